#!/usr/bin/env bash
# `make demo-stop`: stops what `make demo` started, and nothing else.
set -uo pipefail
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
if [ -f .run/demo-started-localstack ]; then
  bash localstack/down.sh
  rm -f .run/demo-started-localstack
fi
