"""localcluster CLI: build | up | down | kubeconfig | status.

`up` leaves the control plane running in the background (detached) until `down`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from localcluster.build import REPO_ROOT, BuildError, build_binaries
from localcluster.cluster import ClusterError, LocalCluster, clean_stale_state, is_healthy


def default_state_dir() -> Path:
    return Path(os.environ.get("LOCALCLUSTER_STATE", REPO_ROOT / ".cluster"))


def cmd_build(args: argparse.Namespace) -> None:
    binaries = build_binaries()
    print(f"kubernetes {binaries.kubernetes_version}: {binaries.kube_apiserver.parent}")
    print(f"etcd {binaries.etcd_version}: {binaries.etcd.parent}")


def cmd_up(args: argparse.Namespace) -> None:
    if is_healthy(args.state_dir):
        print(f"local cluster already running; KUBECONFIG={args.state_dir / 'kubeconfig'}")
        return
    cluster = LocalCluster(args.state_dir, build_binaries(), detached=True).start()
    print(f"local cluster up at {cluster.server} (Kubernetes {cluster.binaries.kubernetes_version})")
    print(f"KUBECONFIG={cluster.kubeconfig}")


def cmd_down(args: argparse.Namespace) -> None:
    clean_stale_state(args.state_dir)
    print("local cluster stopped")


def cmd_kubeconfig(args: argparse.Namespace) -> None:
    print(args.state_dir / "kubeconfig")


def cmd_status(args: argparse.Namespace) -> None:
    if not is_healthy(args.state_dir):
        sys.exit("local cluster is not running (make cluster-up starts it)")
    print(f"running; KUBECONFIG={args.state_dir / 'kubeconfig'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="localcluster", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler in (("build", cmd_build), ("up", cmd_up), ("down", cmd_down),
                          ("kubeconfig", cmd_kubeconfig), ("status", cmd_status)):
        commands.add_parser(name).set_defaults(handler=handler)
    args = parser.parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    try:
        args.handler(args)
    except (BuildError, ClusterError) as error:
        sys.exit(f"localcluster: {error}")


if __name__ == "__main__":
    main()
