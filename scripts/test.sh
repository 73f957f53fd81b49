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

# swift_tests ARGS…: the Swift suite; when it fails, its failed assertions and tests are printed
# again at its end, where the tail of a long CI log still shows which they were.
swift_tests() {
    local log status=0
    log=$(mktemp)
    swift test --skip-build "$@" 2>&1 | tee "$log" || status=$?
    if ((status != 0)); then
        echo "=== the swift tests failed (exit $status); failed assertions, failed tests and crashes:"
        grep -E ": error: |^error: |^Test Case '.*' failed|Fatal error" "$log" | tail -40 || true
    fi
    rm -f "$log"
    return $status
}

stage bootstrap scripts/bootstrap.sh
stage build swift build --build-tests
# PostgreSQL for the store suite's second engine and the broker's binary test on it: a throwaway
# cluster (scripts/postgres.sh), stopped whatever happens next.
postgres_dir=""
trap '[ -z "$postgres_dir" ] || scripts/postgres.sh stop "$postgres_dir"' EXIT
if postgres_out=$(scripts/postgres.sh start); then
    export FJMCP_TEST_POSTGRES_URL=${postgres_out%%$'\n'*}
    postgres_dir=${postgres_out#*$'\n'}
    echo "PostgreSQL for the store suite: $FJMCP_TEST_POSTGRES_URL"
else
    echo "PostgreSQL unavailable: store suite ran on SQLite only"
fi
stage "swift tests" swift_tests "$@"
stage fuzz scripts/fuzz.sh --short
stage e2e env E2E_SKIP_BUILD=1 scripts/e2e.sh
# The hot path's benchmark, briefly, on the debug build: figures only, no thresholds (bench/README.md).
stage "bench smoke" bench/hotpath.sh --smoke
