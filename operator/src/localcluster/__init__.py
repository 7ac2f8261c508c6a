"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback.

Built from the upstream Go modules pinned under ``hack/controlplane/`` and run the way
controller-runtime's envtest runs them, so tests talk to the real API server, never a mock.
"""

from localcluster.build import Binaries, build_binaries
from localcluster.cluster import ClusterError, LocalCluster

__all__ = ["Binaries", "ClusterError", "LocalCluster", "build_binaries"]
