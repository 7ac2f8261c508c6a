"""Container images without a registry or a Docker engine: a Debian base made with debootstrap, the
pause image compiled from Kubernetes' own pause.c, and the operator image built from the project's
Dockerfile with buildah. Everything is cached under ~/.cache/wallaroo-operator/images/ (buildah's
layer store included), so rebuilding the operator after a source change only redoes the source layer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from localcluster.build import GO_MODULES, REPO_ROOT, BuildError, cache_root, pinned_version

BASE_IMAGE = "localhost/debian-python:3.11-bookworm"
PAUSE_IMAGE = "localhost/pause:3.10.1-local"
OPERATOR_IMAGE = "localhost/wallaroo-inference-operator:0.1.0"
DEBIAN_SUITE = "bookworm"
# python3-venv and python-is-python3: the Dockerfile runs `python -m venv` (python:3.11-slim has both).
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# A machine behind a TLS-inspecting egress proxy trusts extra CAs; pip inside a build step needs them too.
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")

CONTAINERS_CONF = """\
[containers]
# Within this machine's hard limits: there is no CAP_SYS_RESOURCE to raise them.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
# Build steps share the host's network: never a netavark bridge, iptables chains or /run/netns.
netns = "host"
[engine]
# crun refuses hybrid cgroup v1/v2 hosts; runc does not.
runtime = "runc"
"""


def images_cache() -> Path:
    return Path(os.environ.get("LOCALCLUSTER_IMAGES_CACHE", cache_root().parent / "images"))


def buildah_env() -> dict[str, str]:
    """Our own containers.conf and storage (in the cache), so nothing under /etc is read or changed."""
    cache = images_cache()
    cache.mkdir(parents=True, exist_ok=True)
    conf, storage = cache / "containers.conf", cache / "storage.conf"
    # buildah sets up its network backend even for host-network builds: keep its files out of /etc/cni.
    conf.write_text(CONTAINERS_CONF + f'[network]\nnetwork_config_dir = "{cache / "net.d"}"\n')
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{cache / "storage"}"\n'
        f'runroot = "/run/wallaroo-operator-buildah"\n'
    )
    return {
        **os.environ,
        "CONTAINERS_CONF": str(conf),
        "CONTAINERS_STORAGE_CONF": str(storage),
        "BUILDAH_ISOLATION": "oci",
    }


def _run(args: list[str], what: str, **kwargs) -> str:
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{what} failed ({' '.join(args[:3])} ...):\n{result.stdout.strip()[-3000:]}")
    return result.stdout


def _buildah(*args: str, what: str) -> str:
    return _run(["buildah", *args], what, env=buildah_env())


def has_image(name: str) -> bool:
    return (
        subprocess.run(
            ["buildah", "inspect", "--type", "image", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=buildah_env(),
        ).returncode
        == 0
    )


def image_id(name: str) -> str:
    return _buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", name, what="buildah inspect").strip()


def why_images_cannot_build() -> str | None:
    """One line saying why images cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building images without Docker needs root (buildah, debootstrap)"
    for tool in ("buildah", "debootstrap", "gcc"):
        if not shutil.which(tool):
            return f"{tool} is not installed (hack/install-node-deps.sh installs it as root)"
    return None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the base image ---------------------------------------------------------------------------------


def _debian_mirror() -> str:
    """The mirror apt on this machine already uses (a machine without internet reaches only that)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = path.read_text() if path.is_file() else ""
        for line in text.splitlines():
            words = line.split()
            if line.startswith("URIs:") and len(words) > 1 and "security" not in words[1]:
                return words[1]
            if line.startswith("deb ") and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"


def _extra_cas() -> list[Path]:
    return sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []


def _base_key() -> str:
    digest = hashlib.sha256(" ".join((DEBIAN_SUITE, *BASE_PACKAGES)).encode())
    for ca in _extra_cas():
        digest.update(ca.read_bytes())
    return digest.hexdigest()[:12]


def _base_rootfs_tar() -> Path:
    """debootstrap's minimal bookworm with Python, as a tar (cached: about 2 min cold)."""
    tar = images_cache() / f"debian-python-{DEBIAN_SUITE}-{_base_key()}.tar"
    if tar.is_file():
        return tar
    _say(f"debootstrap {DEBIAN_SUITE} with {', '.join(BASE_PACKAGES)} (cold: about 2 minutes)")
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=images_cache()) as scratch:
        rootfs = Path(scratch) / "rootfs"
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                _debian_mirror(),
            ],
            "debootstrap",
        )
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        for ca in _extra_cas():
            shutil.copy(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
        _run(["chroot", str(rootfs), "update-ca-certificates"], "update-ca-certificates in the base")
        partial = Path(scratch) / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], "tar of the base")
        partial.rename(tar)  # only a complete tar ever has the cached name
    return tar


def _commit_from_scratch(name: str, contents: Path, destination: str, *config: str) -> None:
    container = _buildah("from", "scratch", what="buildah from scratch").strip()
    try:
        _buildah("add", container, str(contents), destination, what=f"adding {contents.name}")
        _buildah("config", *config, container, what="buildah config")
        _buildah("commit", "-q", container, name, what=f"committing {name}")
    finally:
        subprocess.run(
            ["buildah", "rm", container], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=buildah_env()
        )


def ensure_base_image() -> str:
    if not has_image(BASE_IMAGE):
        _commit_from_scratch(
            BASE_IMAGE,
            _base_rootfs_tar(),
            "/",
            "--cmd",
            "python3",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
    return BASE_IMAGE


# -- the pause image --------------------------------------------------------------------------------


def _pause_source() -> Path:
    """Kubernetes' own build/pause/linux/pause.c, from the module the control plane is built from."""
    kube_dir = GO_MODULES / "kubernetes"
    version = pinned_version(kube_dir, "k8s.io/kubernetes")
    modcache = _run(["go", "env", "GOMODCACHE"], "go env").strip()
    source = Path(modcache) / f"k8s.io/kubernetes@{version}" / "build/pause/linux/pause.c"
    if not source.is_file():
        _run(
            ["go", "mod", "download", f"k8s.io/kubernetes@{version}"],
            "go mod download",
            cwd=kube_dir,
            env={**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod"},
        )
    return source


def ensure_pause_image() -> str:
    if has_image(PAUSE_IMAGE):
        return PAUSE_IMAGE
    with tempfile.TemporaryDirectory(prefix="pause-", dir=images_cache()) as scratch:
        binary = Path(scratch) / "pause"
        version = PAUSE_IMAGE.rsplit(":", 1)[1]
        _run(
            [
                "gcc",
                "-Os",
                "-Wall",
                "-Werror",
                "-static",
                f"-DVERSION=v{version}",
                "-o",
                str(binary),
                str(_pause_source()),
            ],
            "compiling pause.c",
        )
        _run(["strip", str(binary)], "strip pause")
        _commit_from_scratch(PAUSE_IMAGE, binary, "/pause", "--entrypoint", '["/pause"]', "--user", "65535:65535")
    return PAUSE_IMAGE


# -- the operator image -----------------------------------------------------------------------------


def build_operator_image(context: Path = REPO_ROOT) -> str:
    """Build the operator image from the Dockerfile in `context`; cached layers make a rebuild after a
    source change redo only the source layer."""
    base = ensure_base_image()
    _say(f"buildah bud {context} (cold: about 1 minute; warm: seconds)")
    _buildah(
        "bud",
        "--layers",
        "--network",
        "host",
        "--pull=never",
        "-f",
        str(context / "Dockerfile"),
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "-t",
        OPERATOR_IMAGE,
        str(context),
        what="building the operator image",
    )
    from localcluster.sbom import write_image_sbom

    sbom = write_image_sbom(OPERATOR_IMAGE, context / "build/sbom.cdx.json", context / "requirements/runtime.txt")
    _say(f"SBOM: {sbom}")
    return OPERATOR_IMAGE


def save_archive(name: str, path: Path) -> Path:
    """The image as an uncompressed docker-archive that `ctr images import` reads, names included."""
    path.unlink(missing_ok=True)
    _buildah("push", "-q", "--disable-compression", name, f"docker-archive:{path}:{name}", what=f"saving {name}")
    return path
