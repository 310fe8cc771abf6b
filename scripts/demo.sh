#!/usr/bin/env bash
# `make demo`: brings up the whole local stack and runs the pipeline end to end.
# LocalStack (host mode or container) -> resources from infra/ -> `chalice local` (HTTP API) ->
# local event runner (SQS handlers) -> the demo flow (scripts/demo_flow.py). Stop with `make demo-stop`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. localstack/common.sh
API_PORT="${VAXPASS_API_PORT:-8000}"
export VAXPASS_STAGE=local
export VAXPASS_API_URL="http://127.0.0.1:$API_PORT"
# Each run gets resources of its own: a second `make demo` on a LocalStack that is still up would
# otherwise find the first run's people already signed and have nothing to sign.
export VAXPASS_RESOURCE_PREFIX="${VAXPASS_RESOURCE_PREFIX:-vaxpass-local-$(date -u +%m%d%H%M%S)}"
mkdir -p .run demo-output
# An earlier demo's API and event runner are bound to that demo's resources: stop them first.
bash scripts/demo-stop.sh --processes-only
# A demo that fails half way must not leave processes behind.
trap 'status=$?; if [ $status -ne 0 ]; then echo "demo failed (exit $status); stopping what it started" >&2; bash scripts/demo-stop.sh >&2; fi' EXIT

if ! ls_ready; then
  bash localstack/up.sh
  touch .run/demo-started-localstack
fi
echo "== creating resources from infra/ on $AWS_ENDPOINT_URL"
.venv/bin/python -m infra bootstrap --stage local --prefix "$VAXPASS_RESOURCE_PREFIX" > demo-output/resources.json
cat > .run/demo.env <<ENV
export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=$AWS_REGION AWS_DEFAULT_REGION=$AWS_DEFAULT_REGION
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export VAXPASS_STAGE=local VAXPASS_RESOURCE_PREFIX=$VAXPASS_RESOURCE_PREFIX
ENV

start_bg() {  # name, command...
  local name="$1"; shift
  if [ -f ".run/$name.pid" ] && kill -0 "$(cat ".run/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat ".run/$name.pid"))"; return
  fi
  setsid "$@" > ".run/$name.log" 2>&1 < /dev/null &
  echo $! > ".run/$name.pid"
}

echo "== dev token issuer (stands in for the national identity provider): key and JWKS in .run/dev-issuer/"
export VAXPASS_DEV_JWT_KEY_FILE="$root/.run/dev-issuer/key.pem"
VAXPASS_JWKS_URL="$(.venv/bin/python -m chalicelib.cli token jwks --out "$root/.run/dev-issuer/jwks.json")"
export VAXPASS_JWKS_URL

echo "== starting chalice local on $VAXPASS_API_URL"
start_bg chalice .venv/bin/chalice local --stage local --host 127.0.0.1 --port "$API_PORT" --no-autoreload
for _ in $(seq 1 60); do
  curl -fs "$VAXPASS_API_URL/v1/health" >/dev/null 2>&1 && break
  kill -0 "$(cat .run/chalice.pid)" 2>/dev/null || { echo "chalice local exited:"; tail -20 .run/chalice.log; exit 1; }
  sleep 0.5
done
curl -fs "$VAXPASS_API_URL/v1/health" >/dev/null || { echo "API not healthy; see .run/chalice.log"; exit 1; }

echo "== starting the local event runner (SQS -> handlers)"
start_bg events .venv/bin/python -m chalicelib.cli events run

.venv/bin/python scripts/demo_flow.py --api "$VAXPASS_API_URL" --out demo-output

cat <<TXT

The stack keeps running:
  API            $VAXPASS_API_URL   (try: curl $VAXPASS_API_URL/v1/health, or /v1/openapi.json)
  tokens         VAXPASS_DEV_JWT_KEY_FILE=.run/dev-issuer/key.pem .venv/bin/python -m chalicelib.cli token staff --role ministry
  dashboard      $VAXPASS_API_URL/dashboard   (paste a ministry token into its form, or open
                 $VAXPASS_API_URL/dashboard#token=<token>; a ?token= in the query is refused)
  LocalStack     $AWS_ENDPOINT_URL   (resources prefixed $VAXPASS_RESOURCE_PREFIX; point the CLI at
                 them with:  source .run/demo.env)
  logs           .run/chalice.log, .run/events.log, .run/localstack-$LS_PORT.log
  demo output    demo-output/
Stop everything with:  make demo-stop
TXT
