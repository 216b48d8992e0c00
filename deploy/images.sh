#!/usr/bin/env bash
# Build the tickwire images: tickwire:<tag> (every service) and tickwire-prometheus:<tag>.
#
# The build context is assembled in a temporary directory (only what the image needs), so the
# repository needs no .dockerignore and the build machine's proxy CA never enters the repo.
# pip inside the build uses this machine's pip index configuration (pip config, /etc/pip.conf,
# PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST; file:// indexes are skipped: a build
# container cannot see them) and trusts any CA in /usr/local/share/ca-certificates.
# Builds use the host network, so they reach the index exactly as this machine does.
#
# Env: TICKWIRE_IMAGE (tickwire:latest), TICKWIRE_PROMETHEUS_IMAGE (tickwire-prometheus:latest),
#      TICKWIRE_BASE_IMAGE (tickwire-base:bookworm; built with make-base-image.sh when missing),
#      DOCKER_BUILD_FLAGS (extra `docker build` flags, e.g. --no-cache).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
IMAGE="${TICKWIRE_IMAGE:-tickwire:latest}"
PROM_IMAGE="${TICKWIRE_PROMETHEUS_IMAGE:-tickwire-prometheus:latest}"
BASE="${TICKWIRE_BASE_IMAGE:-tickwire-base:bookworm}"

docker image inspect "$BASE" >/dev/null 2>&1 || "$HERE/make-base-image.sh" "$BASE"

pip_setting() {
    # $1: pip config key (e.g. index-url), $2: env var. Env wins; then `pip config list`.
    local env_value="${!2:-}"
    if [ -n "$env_value" ]; then
        echo "$env_value"
        return
    fi
    local pip=""
    for candidate in "$ROOT/.venv/bin/pip" pip3 pip; do
        if command -v "$candidate" >/dev/null 2>&1; then pip="$candidate"; break; fi
    done
    [ -n "$pip" ] || return 0
    "$pip" config list 2>/dev/null | sed -n "s/^[a-z:]*\.$1='\(.*\)'$/\1/p" | head -n1
}

network_only() {
    # Keep http(s) URLs only (file:// indexes live on the host, not in the build container).
    local out=()
    for url in $1; do
        case "$url" in http://* | https://*) out+=("$url") ;; esac
    done
    echo "${out[*]:-}"
}

INDEX_URL="$(network_only "$(pip_setting index-url PIP_INDEX_URL)")"
EXTRA_URLS="$(network_only "$(pip_setting extra-index-url PIP_EXTRA_INDEX_URL)")"
TRUSTED="$(pip_setting trusted-host PIP_TRUSTED_HOST)"

CTX="$(mktemp -d /tmp/tickwire-build.XXXXXX)"
trap 'rm -rf "$CTX"' EXIT
cp "$ROOT/constraints.txt" "$ROOT/pyproject.toml" "$HERE/Dockerfile" "$HERE/healthcheck.py" "$CTX/"
mkdir -p "$CTX/services" "$CTX/ca"
(cd "$ROOT" && tar --exclude='__pycache__' --exclude='*.pyc' -cf - services) | tar -C "$CTX" -xf -
for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] && cp "$crt" "$CTX/ca/"
done

args=(--network host --build-arg "BASE=$BASE")
# shellcheck disable=SC2206
[ -n "${DOCKER_BUILD_FLAGS:-}" ] && args+=($DOCKER_BUILD_FLAGS)  # e.g. --no-cache
[ -n "$INDEX_URL" ] && args+=(--build-arg "PIP_INDEX_URL=$INDEX_URL")
[ -n "$EXTRA_URLS" ] && args+=(--build-arg "PIP_EXTRA_INDEX_URL=$EXTRA_URLS")
[ -n "$TRUSTED" ] && args+=(--build-arg "PIP_TRUSTED_HOST=$TRUSTED")
for proxy in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [ -n "${!proxy:-}" ] && args+=(--build-arg "$proxy=${!proxy}")
done

echo "building $IMAGE (pip index: ${INDEX_URL:-default}${EXTRA_URLS:+, extra: $EXTRA_URLS})"
docker build -q "${args[@]}" -t "$IMAGE" "$CTX" >/dev/null
echo "building $PROM_IMAGE"
docker build -q "${args[@]}" -t "$PROM_IMAGE" -f "$HERE/prometheus/Dockerfile" "$HERE/prometheus" >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(${IMAGE%%:*}|${PROM_IMAGE%%:*}):" || true
