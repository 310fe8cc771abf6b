#!/usr/bin/env bash
# `make demo-stop`: stops what `make demo` started, and nothing else. `--processes-only` leaves
# LocalStack running (the demo uses it to restart its own API and event runner).
set -uo pipefail
processes_only=0
[ "${1:-}" = "--processes-only" ] && processes_only=1
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
for name in events chalice; do
  pidfile=".run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "stopped $name"
done
if [ "$processes_only" = 0 ] && [ -f .run/demo-started-localstack ]; then
  bash localstack/down.sh
  rm -f .run/demo-started-localstack
fi
