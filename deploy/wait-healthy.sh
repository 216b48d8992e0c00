#!/usr/bin/env bash
# Wait until every container of a compose project is running and healthy (or has no healthcheck).
# Usage: deploy/wait-healthy.sh PROJECT [TIMEOUT_SECONDS]   (exit 1 with `ps` output on timeout)
set -euo pipefail
PROJECT="$1"
TIMEOUT="${2:-180}"
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
    pending=""
    if [ -z "$ids" ]; then
        pending="no containers"
    else
        while read -r name state health; do
            if [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
                pending="$pending $name($state/$health)"
            fi
        done < <(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids)
    fi
    if [ -z "$pending" ]; then
        echo "all containers of $PROJECT are healthy"
        exit 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "timed out after ${TIMEOUT}s waiting for:$pending" >&2
        docker ps -a --filter "label=com.docker.compose.project=$PROJECT" >&2
        exit 1
    fi
    sleep 1
done
