#!/usr/bin/env bash
# End-to-end tests: the built binaries (fjmcp-broker, fake-forgejo, demo-mcp-server) as separate
# processes, directly and behind Caddy, driven by the official Python MCP SDK clients of both
# lines (mcp 1.30.0 and mcp 2.3.0), with the demo child and with gitea-mcp as the child; and the
# browser leg in headless Chromium (Debian chromium + chromium-driver via Selenium), once. Every
# broker runs as an unprivileged user (as root: the system user fjmcp-e2e that e2e-setup.sh
# creates, via setpriv) with FJMCP_CHILD_SANDBOX=on, so the unprivileged sandbox path is the one
# tested even where CI runs as root (Tests/e2e/e2e_support/unprivileged.py). The replica stage
# (test_replicas.py: three replicas on one PostgreSQL behind Caddy round robin, issue 17) runs in
# the mcp 2 run only and drives the mcp 1.30.0 client from its venv itself; it uses the PostgreSQL
# of FJMCP_TEST_POSTGRES_URL (scripts/test.sh starts one) or starts a throwaway one with
# scripts/postgres.sh, and is skipped, saying so, only when PostgreSQL cannot be installed.
#
#   scripts/e2e.sh                 set up, build, run the suite with both SDK lines
#   scripts/e2e.sh -k demo-direct  extra arguments go to pytest
#   scripts/e2e.sh -k replicas     the replica stage only
#   E2E_SKIP_BUILD=1               use the binaries already in .build/debug
#   E2E_KEEP_TMP=1                 keep the processes' logs and data (path printed by pytest's header)
#   E2E_SCREENSHOT_DIR=DIR         where the browser leg keeps its screenshots (kept on failure only)
#
# Exits non-zero when a test fails, when setup fails, or when a run collected no test.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/e2e-setup.sh || { echo "e2e: setup failed" >&2; exit 1; }
if [[ -z "${E2E_SKIP_BUILD:-}" ]]; then
    swift build >/tmp/fjmcp-e2e-build.log 2>&1 || { tail -40 /tmp/fjmcp-e2e-build.log >&2; echo "e2e: swift build failed" >&2; exit 1; }
fi

# The browser leg (test_browser.py, headless Chromium) does not depend on the SDK line: it runs in
# the mcp 2 run only (E2E_BROWSER=1), so the suite drives Chromium once, not twice.
status=0
ran=0
for venv in .venv-e2e-mcp1 .venv-e2e-mcp2; do
    browser=0; [[ $venv == .venv-e2e-mcp2 ]] && browser=1
    echo "=== e2e with $("$ROOT/$venv/bin/python" -c 'from importlib.metadata import version; print("mcp", version("mcp"))')$([[ $browser == 1 ]] && echo ", headless Chromium") ==="
    (cd Tests/e2e && E2E_BROWSER=$browser "$ROOT/$venv/bin/python" -m pytest "$@")
    rc=$?
    case $rc in
        0) ran=1 ;;
        # With a selection (-k, a file) one run may legitimately match nothing, e.g. `-k browser`
        # in the mcp 1 run; without arguments every run must have collected tests.
        5) if [[ $# -eq 0 ]]; then echo "e2e: $venv ran no test (pytest exit 5)" >&2; status=1; fi ;;
        *) ran=1; echo "e2e: $venv failed (pytest exit $rc)" >&2; status=1 ;;
    esac
done
if [[ $ran == 0 ]]; then echo "e2e: no run collected a test" >&2; status=1; fi
exit $status
