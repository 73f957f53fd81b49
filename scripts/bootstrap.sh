#!/usr/bin/env bash
# Installs what building and testing need, idempotently: safe to run on every test run.
set -euo pipefail

need_apt=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need_apt+=(libsqlite3-dev)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
# bubblewrap: the child sandbox (FJMCP_CHILD_SANDBOX); the tests run children sandboxed.
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
# wrk: the hot-path benchmark's load generator (bench/hotpath.sh; its smoke runs in scripts/test.sh).
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
