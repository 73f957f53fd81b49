#!/usr/bin/env bash
# The one command that runs every test: unit and integration tests (loopback HTTP, real child
# processes, the built binaries), then the end-to-end suite (the binaries driven by the official
# Python MCP SDK clients, directly and behind Caddy). CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# stage NAME COMMAND…: runs one stage and prints how long it took (also when it fails).
stage() {
    local name=$1 start=$SECONDS status=0
    shift
    echo "=== stage: $name"
    "$@" || status=$?
    echo "=== stage: $name took $((SECONDS - start)) s (exit $status)"
    return $status
}

stage bootstrap scripts/bootstrap.sh
stage build swift build --build-tests
stage "swift tests" swift test --skip-build "$@"
stage fuzz scripts/fuzz.sh --short
stage e2e env E2E_SKIP_BUILD=1 scripts/e2e.sh
# The hot path's benchmark, briefly, on the debug build: figures only, no thresholds (bench/README.md).
stage "bench smoke" bench/hotpath.sh --smoke
