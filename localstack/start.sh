#!/usr/bin/env bash
# Starts LocalStack in host mode in the background, waits until it is ready, records its PID.
# Does nothing if a LocalStack already answers on the port (exit 0, prints "already running").
set -euo pipefail
. "$(dirname "$0")/common.sh"

if ls_ready; then
  echo "LocalStack already running on $LS_URL"
  exit 0
fi
"$(dirname "$0")/install.sh"
mkdir -p "$LS_RUN"
DATA_DIR="$LS_RUN/localstack-$LS_PORT-data"
rm -rf "$DATA_DIR"; mkdir -p "$DATA_DIR"

# OVERRIDE_IN_DOCKER=0: the machine carries /.dockerenv, which would make LocalStack ignore
# FILESYSTEM_ROOT. SQS_ENDPOINT_STRATEGY=path: the default queue host names need DNS we lack.
env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$LS_ROOT" \
  LOCALSTACK_VOLUME_DIR="$DATA_DIR" TMPDIR="$DATA_DIR" \
  GATEWAY_LISTEN="127.0.0.1:$LS_PORT" LOCALSTACK_HOST="127.0.0.1:$LS_PORT" \
  SERVICES="s3,sqs,kms,dynamodb,sts,iam,logs,cloudformation" EAGER_SERVICE_LOADING=1 \
  DYNAMODB_IN_MEMORY=1 DYNAMODB_LOCAL_PORT="$LS_DDB_PORT" SQS_ENDPOINT_STRATEGY=path \
  DYNAMODB_HEAP_SIZE="${LOCALSTACK_DDB_HEAP:-2g}" \
  DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
  setsid "$LS_VENV/bin/python" -m localstack.runtime.main >"$LS_LOG" 2>&1 </dev/null &
echo $! > "$LS_PIDFILE"

for _ in $(seq 1 120); do
  if ls_ready; then
    echo "LocalStack ready on $LS_URL (pid $(cat "$LS_PIDFILE"), log $LS_LOG)"
    exit 0
  fi
  if ! kill -0 "$(cat "$LS_PIDFILE")" 2>/dev/null; then
    echo "LocalStack exited during start; last log lines:" >&2
    tail -n 40 "$LS_LOG" >&2
    rm -f "$LS_PIDFILE"
    exit 1
  fi
  sleep 0.5
done
echo "LocalStack not ready after 60 s; see $LS_LOG" >&2
exit 1
