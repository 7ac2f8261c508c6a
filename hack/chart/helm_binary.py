"""A helm (v3) binary: $HELM, else `helm` on PATH, else built from the Go module proxy (`make helm`).

The build uses the pinned consumer module in hack/helm/ (its go.mod is the single pin) and the
control plane's build helpers, and is cached per version under
~/.cache/wallaroo-operator/helm/helm-<version>/, so only the first use pays for it (about two
minutes on 2 cores with a warm module cache). Prints the binary's path on its last line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from localcluster.build import BuildError, _build_into_cache, _go_build, pinned_version

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM_MODULE = REPO_ROOT / "hack" / "helm"
HELM = "helm.sh/helm/v3"


def cache_dir(version: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("WALLAROO_HELM_CACHE", Path(base) / "wallaroo-operator" / "helm")) / f"helm-{version}"


def helm_ldflags(version: str) -> str:
    # As helm's own Makefile: its version, and the Kubernetes version `helm template` and `helm lint`
    # assume (otherwise v1.20) taken from the client-go it is built with (v0.N -> 1.N).
    client_go = pinned_version(HELM_MODULE, "k8s.io/client-go")
    minor = client_go.lstrip("v").split(".")[1]
    flags = [f"-X {HELM}/internal/version.version={version}", f"-X {HELM}/internal/version.gitTreeState=clean"]
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [f"-X {HELM}/{package}.k8sVersionMajor=1", f"-X {HELM}/{package}.k8sVersionMinor={minor}"]
    return "-s -w " + " ".join(flags)


def is_helm3(path: str) -> bool:
    result = subprocess.run([path, "version", "--short"], check=False, capture_output=True, text=True)
    return result.returncode == 0 and re.match(r"v3\.", result.stdout.strip()) is not None


def helm_binary() -> Path:
    """The helm to use, building the pinned one when the machine has none."""
    if os.environ.get("HELM"):
        return Path(os.environ["HELM"])
    on_path = shutil.which("helm")
    if on_path and is_helm3(on_path):
        return Path(on_path)
    version = pinned_version(HELM_MODULE, HELM)
    target = cache_dir(version)
    if not (target / "helm").is_file():
        _build_into_cache(
            target, lambda out: _go_build(HELM_MODULE, [f"{HELM}/cmd/helm"], f"{out}/helm", helm_ldflags(version))
        )
    return target / "helm"


def main() -> int:
    try:
        print(helm_binary())
    except BuildError as error:
        print(f"make helm: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
