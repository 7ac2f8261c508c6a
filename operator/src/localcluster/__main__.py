"""localcluster CLI: build | up | down | kubeconfig | status | image | node-reason.

`up` leaves the control plane, and a node where the machine allows one, running in the background
(detached) until `down`. `image` builds the operator image (buildah) and loads it into the node.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from localcluster import images, node
from localcluster.build import REPO_ROOT, BuildError, build_binaries, build_node_binaries
from localcluster.cluster import ClusterError, LocalCluster, clean_stale_state, is_healthy


def default_state_dir() -> Path:
    return Path(os.environ.get("LOCALCLUSTER_STATE", REPO_ROOT / ".cluster"))


def cmd_build(args: argparse.Namespace) -> None:
    binaries = build_binaries()
    print(f"kubernetes {binaries.kubernetes_version}: {binaries.kube_apiserver.parent}")
    print(f"etcd {binaries.etcd_version}: {binaries.etcd.parent}")
    if reason := node.why_not_here():
        print(f"no node binaries: {reason}")
    else:
        print(f"kubelet, kube-scheduler: {build_node_binaries().kubelet.parent}")
        # The node's images too, so no test waits minutes for a debootstrap in its setup.
        print(f"images: {images.ensure_base_image()}, {images.ensure_pause_image()}")


def cmd_up(args: argparse.Namespace) -> None:
    if is_healthy(args.state_dir):
        print(f"local cluster already running; KUBECONFIG={args.state_dir / 'kubeconfig'}")
        return
    if node.enabled():
        node.check_slot_free()  # fail fast, before starting anything
    binaries = build_binaries()
    reason = node.why_not_here()
    if reason is None:
        build_node_binaries()
    else:
        print(f"control plane only: {reason}")
    cluster = LocalCluster(args.state_dir, binaries, detached=True, with_node=reason is None).start()
    print(f"local cluster up at {cluster.server} (Kubernetes {cluster.binaries.kubernetes_version})")
    if cluster.node:
        print(f"node {node.NODE_NAME} Ready (containerd {node.NODE_DIR / 'containerd.sock'})")
    print(f"KUBECONFIG={cluster.kubeconfig}")


def cmd_down(args: argparse.Namespace) -> None:
    clean_stale_state(args.state_dir)
    if node.read_claim() and not node.live_owner():
        node.release()  # a node left behind by a killed run, whatever its state dir was
    print("local cluster stopped")


def cmd_image(args: argparse.Namespace) -> None:
    """Build the operator image; load it into the node when this state dir's node runs. The image
    reference is the last line printed."""
    if reason := images.why_images_cannot_build():
        raise BuildError(reason)
    name = images.build_operator_image()
    if is_healthy(args.state_dir) and node.live_owner() == str(args.state_dir):
        node.load_into_running_node(args.state_dir, name)
        print(f"loaded into the node of {args.state_dir}")
    print(name)


def cmd_node_reason(args: argparse.Namespace) -> None:
    """Exit 0 if a node can run here, else print why (one line) and exit 1."""
    if reason := node.why_not_here():
        sys.exit(reason)


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
    for name, handler in (
        ("build", cmd_build),
        ("up", cmd_up),
        ("down", cmd_down),
        ("kubeconfig", cmd_kubeconfig),
        ("status", cmd_status),
        ("image", cmd_image),
        ("node-reason", cmd_node_reason),
    ):
        commands.add_parser(name).set_defaults(handler=handler)
    args = parser.parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    try:
        args.handler(args)
    except (BuildError, ClusterError, node.NodeError) as error:
        sys.exit(f"localcluster: {error}")


if __name__ == "__main__":
    main()
