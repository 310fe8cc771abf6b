#!/usr/bin/env bash
# Stops the LocalStack that up.sh started from this checkout (container or host process).
set -euo pipefail
here="$(dirname "$0")"
. "$here/common.sh"
mode_file="$LS_RUN/localstack-$LS_PORT.mode"
mode="$(cat "$mode_file" 2>/dev/null || echo host)"
if [ "$mode" = docker ]; then
  docker compose -f "$here/docker-compose.yml" -p "vaxpass-$LS_PORT" down
else
  "$here/stop.sh"
fi
rm -f "$mode_file"
