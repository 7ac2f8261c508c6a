"""What a node changes on the host, recorded before it starts and put back when it stops.

The kubelet and containerd use fixed host paths and settings whatever their own directories are:
sysctls (vm.overcommit_memory, kernel.panic, ... ; the bridge plugin turns on ip_forward),
/var/lib/kubelet, /var/log/containers, /run/netns and /var/lib/cni, kubepods cgroups, mounts, the
bridge link, and (when iptables is reachable) KUBE-* chains. ``HostSnapshot`` records how each was
before; ``restore`` undoes every change, and works as well after a run that was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# What the kubelet (setupKernelTunables, protectKernelDefaults=false) and the CNI bridge plugin set.
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
)
# Hard-coded paths the node creates even with its own root and state directories.
# (/run/containerd: containerd 1.6 puts its shims' sockets in /run/containerd/s whatever its state dir.)
HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/run/netns",
    "/var/lib/cni",
    "/etc/cni",
    "/run/containerd",
    "/opt/containerd",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBE_CHAIN = re.compile(r"^KUBE-[A-Z0-9-]+$")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctl(name: str) -> str | None:
    try:
        return _sysctl_path(name).read_text().strip()
    except OSError:
        return None


@dataclass
class HostSnapshot:
    sysctls: dict[str, str] = field(default_factory=dict)
    existing_paths: list[str] = field(default_factory=list)

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(
            sysctls={name: value for name in SYSCTLS if (value := read_sysctl(name)) is not None},
            existing_paths=[path for path in HOST_PATHS if os.path.lexists(path)],
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HostSnapshot:
        return cls(**json.loads(text))


def links() -> list[str]:
    return sorted(path.name for path in Path("/sys/class/net").iterdir())


# -- undoing ------------------------------------------------------------------------------------------


def cgroup_pids(group: str) -> set[int]:
    """The processes in cgroup `group` (e.g. "kubepods") and below, under every hierarchy."""
    pids: set[int] = set()
    for procs in CGROUP_ROOT.glob(f"*/{group}/**/cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):  # removed while we looked
            pids.update(int(pid) for pid in procs.read_text().split())
    return pids


def kill_cgroup_processes(group: str) -> None:
    for pid in cgroup_pids(group):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def cgroup_has_processes(group: str) -> bool:
    return bool(cgroup_pids(group))


def remove_cgroups(group: str) -> None:
    """rmdir the (by now empty) cgroup trees, deepest first."""
    for top in CGROUP_ROOT.glob(f"*/{group}"):
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _rmdir_quietly(directory)
        _rmdir_quietly(top)


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def mounts_under(prefixes: list[str]) -> list[str]:
    """Mount points at or under any prefix, deepest (most recently mounted) first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == prefix or point.startswith(prefix.rstrip("/") + "/") for prefix in prefixes):
            points.append(point)
    return list(reversed(points))


def unmount_all(prefixes: list[str]) -> None:
    for _ in range(3):  # a mount may hide another at the same point
        points = mounts_under(prefixes)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "--lazy", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def delete_link(name: str) -> None:
    if Path("/sys/class/net", name).exists():
        subprocess.run(["ip", "link", "delete", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def remove_kube_chains() -> None:
    """Remove KUBE-* chains and the rules jumping to them (a kubelet that could reach iptables makes them)."""
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        for table in ("filter", "nat", "mangle"):
            listing = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True)
            if listing.returncode != 0:
                continue
            chains = [
                line.split()[1]
                for line in listing.stdout.splitlines()
                if line.startswith("-N ") and KUBE_CHAIN.match(line.split()[1])
            ]
            for line in listing.stdout.splitlines():
                words = line.split()
                if words[:1] == ["-A"] and "-j" in words and words[words.index("-j") + 1] in chains:
                    subprocess.run([tool, "-w", "-t", table, "-D", *words[1:]], capture_output=True)
            for chain in chains:
                subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
            for chain in chains:
                subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)


def kill_pods() -> None:
    """Every container's processes (they outlive a killed containerd and its shims), until none is left."""
    deadline = time.monotonic() + 15
    while cgroup_has_processes("kubepods") and time.monotonic() < deadline:
        kill_cgroup_processes("kubepods")
        time.sleep(0.05)


def restore(snapshot: HostSnapshot, mount_prefixes: list[str], bridge: str) -> None:
    """Put the host back as `snapshot` found it; every step is safe to repeat."""
    kill_pods()
    unmount_all([*mount_prefixes, "/run/netns", "/var/lib/kubelet"])
    remove_cgroups("kubepods")
    delete_link(bridge)
    remove_kube_chains()
    for path in HOST_PATHS:
        if path not in snapshot.existing_paths and os.path.lexists(path):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
    for name, value in snapshot.sysctls.items():
        if read_sysctl(name) != value:
            with contextlib.suppress(OSError):
                _sysctl_path(name).write_text(value)
