#!/usr/bin/env bash
# Build the local base image (Debian bookworm + python3) with debootstrap and `docker import`.
#
# No container registry is reachable from CI, so the Dockerfile's base (ARG BASE) is this image.
# The Debian mirror is read from the machine's apt sources; nothing else is contacted.
#
# Usage: deploy/make-base-image.sh [IMAGE]      (default tickwire-base:bookworm; FORCE=1 rebuilds)
set -euo pipefail

IMAGE="${1:-${TICKWIRE_BASE_IMAGE:-tickwire-base:bookworm}}"
SUITE="${SUITE:-bookworm}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE already present (FORCE=1 to rebuild)"
    exit 0
fi

mirror() {
    # First Debian main archive URI in the apt sources (deb822 or one-line format).
    local uri=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' /etc/apt/sources.list.d/*.sources \
            | grep -v -- '-security' | grep -i debian | head -n1 || true)
    fi
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' \
            | grep -v -- '-security' | grep -i debian | head -n1 || true)
    fi
    echo "${MIRROR:-$uri}"
}

MIRROR_URL="$(mirror)"
if [ -z "$MIRROR_URL" ]; then
    echo "no Debian mirror found in /etc/apt/sources.list*; set MIRROR=" >&2
    exit 1
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

WORK="$(mktemp -d /var/tmp/tickwire-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"
echo "debootstrap $SUITE from $MIRROR_URL into $ROOT"
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOT" "$MIRROR_URL" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 50 "$WORK/debootstrap.log" >&2
    exit 1
}

# Slim the tree: package caches, lists, docs, man pages, locales.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* \
    "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
    "$ROOT"/usr/share/locale/* "$ROOT"/var/log/*.log "$ROOT"/var/cache/debconf/*-old
printf 'deb %s %s main\n' "$MIRROR_URL" "$SUITE" >"$ROOT/etc/apt/sources.list"

tar --numeric-owner -C "$ROOT" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE" >/dev/null
echo "built $IMAGE in $(( $(date +%s) - start ))s: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
