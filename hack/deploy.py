"""`make deploy`: install crds/ and manifests/ (through an overlay) into the cluster KUBECONFIG names
and wait until the operator's Deployment is Available.

KUBECONFIG defaults to the local cluster's (`make cluster-up`); OVERLAY to hack/overlays/local
(the image `make image` loads into the local node, and the route to the API server from its bridge).
For a real cluster: `KUBECONFIG=... OVERLAY=manifests make deploy` after pushing the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "wallaroo-operator"
Kubectl = Callable[..., str]


def kubectl_for(kubectl_path: Path | str, kubeconfig: Path) -> Kubectl:
    def run(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(kubectl_path), f"--kubeconfig={kubeconfig}", *args], input=stdin, text=True, capture_output=True
        )
        if result.returncode != 0:
            sys.exit(f"kubectl {' '.join(args)} failed:\n{result.stderr.strip()}")
        return result.stdout

    return run


def deploy(kubectl: Kubectl, overlay: Path, timeout_seconds: int = 180) -> None:
    print(kubectl("apply", "--server-side", "-f", str(REPO / "crds")), end="")
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    print(kubectl("apply", "-k", str(overlay)), end="")
    print(
        kubectl(
            "rollout",
            "status",
            "-n",
            OPERATOR_NAMESPACE,
            "deployment/wallaroo-operator",
            f"--timeout={timeout_seconds}s",
        ),
        end="",
    )


def main() -> None:
    from localcluster import build_binaries

    default = REPO / ".cluster" / "kubeconfig"
    kubeconfig = Path(os.environ.get("KUBECONFIG") or default)
    if not kubeconfig.exists():
        sys.exit(f"no kubeconfig at {kubeconfig}: start the local cluster (make cluster-up) or set KUBECONFIG")
    overlay = Path(os.environ.get("OVERLAY") or REPO / "hack" / "overlays" / "local")
    deploy(kubectl_for(build_binaries().kubectl, kubeconfig), overlay)


if __name__ == "__main__":
    main()
