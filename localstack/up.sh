#!/usr/bin/env bash
# Starts LocalStack: the official container where a Docker engine answers, host mode otherwise.
set -euo pipefail
here="$(dirname "$0")"
. "$here/common.sh"
if ls_ready; then echo "LocalStack already running on $LS_URL"; exit 0; fi
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  mkdir -p "$LS_RUN"
  docker compose -f "$here/docker-compose.yml" -p "vaxpass-$LS_PORT" up -d
  echo docker > "$LS_RUN/localstack-$LS_PORT.mode"
  for _ in $(seq 1 120); do ls_ready && { echo "LocalStack (container) ready on $LS_URL"; exit 0; }; sleep 0.5; done
  echo "LocalStack container not ready after 60 s" >&2; exit 1
fi
mkdir -p "$LS_RUN"
echo host > "$LS_RUN/localstack-$LS_PORT.mode"
exec "$here/start.sh"
