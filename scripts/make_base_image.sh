#!/usr/bin/env bash
# A Python 3.11 base image built locally, for `make image` where no container registry is
# reachable: Debian bookworm (its python3.11) by debootstrap, imported into podman.
# Needs root and `apt-get install podman runc debootstrap`. About 2 minutes.
set -euo pipefail
tag="${1:-localhost/gig-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
chroot "$root" /bin/sh -c "apt-get install -y -q --no-install-recommends python3.11 python3-pip ca-certificates >/dev/null 2>&1 && apt-get clean"
tar -C "$root" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "base image $tag: $(podman image inspect --format '{{.Size}}' "$tag" | numfmt --to=iec)"
