#!/bin/sh
# Install what a local node and image builds need from Debian, once (idempotent: a no-op when present).
# Needs root; prints one line saying why not otherwise. The packages: containerd 1.6 + runc run pods,
# containernetworking-plugins gives them a bridge network, buildah builds images without a Docker
# engine, debootstrap makes the local Python base image (no registry is reachable here).
set -eu
PACKAGES="containerd runc containernetworking-plugins buildah debootstrap"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-node-deps: no apt-get here; install$missing yourself for a local node (else none runs)" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-node-deps: not root, cannot install:$missing (node tests will be skipped)" >&2
    exit 0
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
