"""Build the control-plane binaries from the pinned Go consumer modules, cached per version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
GO_MODULES = Path(os.environ.get("LOCALCLUSTER_GO_MODULES", REPO_ROOT / "hack" / "controlplane"))

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kubectl")
# A node's binaries, built from the same pinned module into a cache of their own (so a cached control
# plane stays valid, and a machine that cannot run a node never builds them).
NODE_COMMANDS = ("kubelet", "kube-scheduler")


class BuildError(RuntimeError):
    """A build step failed; the message is what the user needs to read (no traceback)."""


@dataclass(frozen=True)
class NodeBinaries:
    kubelet: Path
    kube_scheduler: Path


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    kubernetes_version: str
    etcd_version: str


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("LOCALCLUSTER_CACHE", Path(base) / "wallaroo-operator" / "controlplane"))


def pinned_version(module_dir: Path, module: str) -> str:
    """The version of `module` required by a consumer module's go.mod (the single pin)."""
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise BuildError(f"{module_dir}/go.mod does not require {module}")
    return match.group(1)


def required_go(module_dir: Path) -> str:
    match = re.search(r"^go\s+(\S+)", (module_dir / "go.mod").read_text(), re.MULTILINE)
    return match.group(1) if match else "1.26"


def _check_go(module_dir: Path) -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError(
            f"Go is not installed: install Go {required_go(module_dir)} or newer (https://go.dev/dl/) "
            "to build the local control plane"
        )
    return go


def _go_build(module_dir: Path, packages: list[str], output: str, ldflags: str) -> None:
    """`output` is a directory ending in '/' for several packages, or a file path for one."""
    go = _check_go(module_dir)
    env = {**os.environ, "GOWORK": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    cmd = [go, "build", "-trimpath", "-ldflags", ldflags, "-o", output, *packages]
    names = ", ".join(p.removesuffix("/v3").rsplit("/", 1)[-1] for p in packages)
    print(f"building {names} in {module_dir} (cold: several minutes)", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, cwd=module_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BuildError(f"go build failed in {module_dir}:\n{result.stdout.strip()}")


def _build_into_cache(target: Path, build) -> None:
    """Build into a scratch dir beside `target` and rename it in, so a killed build leaves no half cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".partial-", dir=target.parent))
    scratch.chmod(0o755)
    try:
        build(scratch)
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _kubernetes_ldflags(version: str) -> str:
    # Without these the server reports v0.0.0-master+$Format:%H$ instead of its real version.
    major, minor = version.lstrip("v").split(".")[:2]
    base = "k8s.io/component-base/version"
    return (
        f"-s -w -X {base}.gitVersion={version} -X {base}.gitMajor={major} -X {base}.gitMinor={minor} "
        f"-X {base}.gitTreeState=clean"
    )


def build_binaries() -> Binaries:
    """Return the cached binaries, building what is missing."""
    kube_dir, etcd_dir = GO_MODULES / "kubernetes", GO_MODULES / "etcd"
    kube_version = pinned_version(kube_dir, "k8s.io/kubernetes")
    etcd_version = pinned_version(etcd_dir, "go.etcd.io/etcd/server/v3")
    kube_cache = cache_root() / f"kubernetes-{kube_version}"
    etcd_cache = cache_root() / f"etcd-{etcd_version}"

    if not all((kube_cache / name).is_file() for name in KUBERNETES_COMMANDS):
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
        _build_into_cache(
            kube_cache, lambda out: _go_build(kube_dir, packages, f"{out}/", _kubernetes_ldflags(kube_version))
        )
    if not (etcd_cache / "etcd").is_file():
        etcd_ldflags = f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={etcd_version}"
        _build_into_cache(
            etcd_cache, lambda out: _go_build(etcd_dir, ["go.etcd.io/etcd/server/v3"], f"{out}/etcd", etcd_ldflags)
        )
    return Binaries(
        etcd=etcd_cache / "etcd",
        kube_apiserver=kube_cache / "kube-apiserver",
        kube_controller_manager=kube_cache / "kube-controller-manager",
        kubectl=kube_cache / "kubectl",
        kubernetes_version=kube_version,
        etcd_version=etcd_version,
    )


def build_node_binaries() -> NodeBinaries:
    """Return the cached kubelet and kube-scheduler, building them if missing (about 1 min more once
    the control plane's Go build cache is warm)."""
    kube_dir = GO_MODULES / "kubernetes"
    version = pinned_version(kube_dir, "k8s.io/kubernetes")
    cache = cache_root() / f"kubernetes-node-{version}"
    if not all((cache / name).is_file() for name in NODE_COMMANDS):
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in NODE_COMMANDS]
        _build_into_cache(cache, lambda out: _go_build(kube_dir, packages, f"{out}/", _kubernetes_ldflags(version)))
    return NodeBinaries(kubelet=cache / "kubelet", kube_scheduler=cache / "kube-scheduler")
