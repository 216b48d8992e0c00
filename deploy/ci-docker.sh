#!/usr/bin/env bash
# Install and start a Docker engine on a fresh Debian bookworm machine (CI or a developer box).
#
# Idempotent: packages already installed are kept, a running engine is reused, the base image
# is built only when missing. Needs root. Steps:
#   1. apt-get install docker.io containerd runc docker-compose debootstrap iptables
#   2. start dockerd in the background (overlay2, else vfs; iptables, else --iptables=false)
#   3. wait until `docker info` answers
#   4. build the base image (deploy/make-base-image.sh) if it is missing
# Env: DOCKERD_LOG (default /var/log/tickwire-dockerd.log), SKIP_BASE_IMAGE=1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG="${DOCKERD_LOG:-/var/log/tickwire-dockerd.log}"
SOCK=/var/run/docker.sock
export DEBIAN_FRONTEND=noninteractive

t0=$(date +%s)
step() { echo "[ci-docker] +$(( $(date +%s) - t0 ))s $*"; }

PKGS=(docker.io containerd runc docker-compose debootstrap iptables)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
step "packages ready"

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

clear_stale_pidfile() {
    # A dockerd killed hard leaves /var/run/docker.pid behind; a new one refuses to start while
    # that pid names any process (even a zombie). Remove it unless it is a live dockerd.
    local pidfile=/var/run/docker.pid pid state
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    if [ -z "$pid" ] || [ -z "$state" ] || [ "$state" = Z ] \
        || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
        rm -f "$pidfile"
    fi
}

start_dockerd() {
    # $@: extra dockerd flags. Returns 0 once the engine answers, 1 if dockerd died.
    step "starting dockerd $*"
    clear_stale_pidfile
    rm -f "$SOCK"
    echo "==== $(date -u +%FT%TZ) dockerd $*" >>"$LOG"
    setsid nohup dockerd --host "unix://$SOCK" "$@" >>"$LOG" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 1 120); do
        if engine_up; then
            echo "$pid" >/var/run/tickwire-dockerd.pid
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 5 "$LOG" >&2
            return 1
        fi
        sleep 0.5
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    tail -n 5 "$LOG" >&2
    return 1
}

if engine_up; then
    step "docker engine already running"
else
    # Prefer overlay2 (retried: a just-killed engine may still hold its pid file or mounts);
    # vfs works everywhere but is slow and keeps a separate image store.
    started=0
    for attempt in "overlay2|" "overlay2|" "overlay2|--iptables=false --ip-masq=false" \
        "vfs|" "vfs|--iptables=false --ip-masq=false"; do
        storage="${attempt%%|*}"
        net="${attempt#*|}"
        # shellcheck disable=SC2086
        if start_dockerd --storage-driver="$storage" $net; then
            started=1
            break
        fi
        sleep 2
    done
    if [ "$started" != 1 ]; then
        echo "[ci-docker] could not start dockerd; see $LOG" >&2
        exit 1
    fi
fi
step "engine: $(docker info --format '{{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupDriver}}')"

if command -v docker-compose >/dev/null; then
    step "compose: $(docker-compose version --short 2>/dev/null || true)"
fi

if [ "${SKIP_BASE_IMAGE:-0}" != 1 ]; then
    "$HERE/make-base-image.sh"
fi
step "done"
