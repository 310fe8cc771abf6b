#!/usr/bin/env bash
# Installs what the browser tests need, idempotently: Debian's chromium (apt) and the pinned
# playwright-core (npm ci from package-lock.json; it never downloads a browser of its own).
# Fails loudly if either cannot be installed: the dashboard test must fail, not be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${VAXPASS_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  echo "== installing Debian's chromium (apt)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "chromium missing and not root (no sudo): install the 'chromium' package" >&2; exit 1; }
    SUDO="sudo -n"
  fi
  $SUDO apt-get update -q
  # fonts-dejavu-core: glyphs for Vietnamese diacritics in screenshots.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
"$CHROMIUM" --version

# npm ci again only when the lock file is newer than the last install.
if [ ! -f node_modules/.vaxpass-installed ] || [ package-lock.json -nt node_modules/.vaxpass-installed ]; then
  echo "== npm ci (playwright-core, pinned)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
  touch node_modules/.vaxpass-installed
fi
node -e "require('playwright-core'); console.log('playwright-core', require('playwright-core/package.json').version)"
