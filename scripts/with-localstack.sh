#!/usr/bin/env bash
# Runs a command with LocalStack available: uses one already running on the port, otherwise starts
# one and stops it afterwards (also on failure or Ctrl-C). Exits with the command's status.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/localstack/common.sh"
started=0
if ! ls_ready; then
  bash "$root/localstack/up.sh" || exit 1
  started=1
fi
cleanup() { [ "$started" = 1 ] && bash "$root/localstack/down.sh" >/dev/null; }
trap cleanup EXIT INT TERM
"$@"
