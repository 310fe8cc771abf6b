#!/usr/bin/env bash
# Stops the host-mode LocalStack started by start.sh (by the recorded PID; takes its Java child along).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -f "$LS_PIDFILE" ] || { echo "no LocalStack started from this checkout on port $LS_PORT"; exit 0; }
pid="$(cat "$LS_PIDFILE")"
if kill -0 "$pid" 2>/dev/null; then
  # setsid made it a process group leader: signal the group so DynamoDB Local's JVM goes too.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
fi
rm -f "$LS_PIDFILE"
rm -rf "$LS_RUN/localstack-$LS_PORT-data"
echo "LocalStack stopped"
