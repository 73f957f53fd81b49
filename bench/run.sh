#!/usr/bin/env bash
# `make bench`: what the broker adds over the bare stdio child, and what mcp-proxy adds, in one run.
#   (a) fjmcp-bench stdio: the demo child spawned directly (the physical limit)
#   (b) the broker (`fjmcp-broker demo`, demo child in its lightest mode) with a token from the real OAuth flow
#   (c) mcp-proxy 0.13.x (Streamable HTTP) over the same child
# then session scale (creation time, broker RSS at 0/100/500/1000 idle sessions), the auth path, and
# the hot path above the floor per era with the C echo child (bench/hotpath.sh, its verdict lines),
# with the broker of the commit before the hot-path work measured in the same run (before/after).
# Every run is bounded in calls and seconds and targets 127.0.0.1 only. Knobs (environment):
#   BENCH_CALLS (20000) BENCH_SECONDS (15) BENCH_SESSION_COUNTS (0,100,500,1000) BENCH_PORT (18480)
#   BENCH_PROXY_PORT (18481) BENCH_LOG_LEVEL (info, the broker's default) BENCH_SKIP_BUILD=1
#   BENCH_BASE_COMMIT (a90b31d) BENCH_BASE_REVERT (d62476d) BENCH_BASE_BIN (a directory with a
#   baseline fjmcp-broker; default: built once into .build-bench-base, skipped when present)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

CALLS=${BENCH_CALLS:-20000}
MAX_SECONDS=${BENCH_SECONDS:-15}
COUNTS=${BENCH_SESSION_COUNTS:-0,100,500,1000}
PORT=${BENCH_PORT:-18480}
PROXY_PORT=${BENCH_PROXY_PORT:-18481}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$(mktemp -d /tmp/fjmcp-bench.XXXXXX)   # logs, tokens, per-run JSON (not kept in the tree)
BIN=${BENCH_BIN:-.build-release/release}
mkdir -p bench/results

if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
    echo "== building release binaries into .build-release"
    for product in fjmcp-broker demo-mcp-server fjmcp-bench fjmcp-floor; do
        swift build -c release --scratch-path .build-release --product "$product" >"$OUT/build-$product.log" 2>&1 \
            || { tail -30 "$OUT/build-$product.log"; exit 1; }
    done
fi

# The broker before the hot-path work (issue 19), for the before/after columns of hotpath.sh:
# the tree just before d62476d (the first hot-path change). 9f51780, the commit before it, does
# not build (its renames into BrokerWire were completed only by a90b31d), so it is a90b31d with
# d62476d reverted. Built once into the git-ignored .build-bench-base, from a git worktree.
BASE_BIN=${BENCH_BASE_BIN:-$PWD/.build-bench-base/bin}
if [[ ! -x $BASE_BIN/fjmcp-broker ]]; then
    base_dir=$PWD/.build-bench-base
    base_commit=${BENCH_BASE_COMMIT:-a90b31d}
    base_revert=${BENCH_BASE_REVERT-d62476d}
    echo "== building the baseline broker ($base_commit${base_revert:+ with $base_revert reverted}) into .build-bench-base"
    rm -rf "$base_dir/src"
    git worktree prune
    git worktree add -q --detach "$base_dir/src" "$base_commit"
    if [[ -n $base_revert ]]; then git -C "$base_dir/src" revert --no-commit "$base_revert"; fi
    (cd "$base_dir/src" && swift build -c release --scratch-path "$base_dir/build" --product fjmcp-broker) >"$OUT/build-base.log" 2>&1 \
        || { tail -30 "$OUT/build-base.log"; exit 1; }
    mkdir -p "$BASE_BIN"
    cp "$base_dir/build/release/fjmcp-broker" "$BASE_BIN/"
    git worktree remove --force "$base_dir/src"
fi

echo "== python: mcp-proxy 0.13.x and httpx in bench/.venv"
if [[ ! -x bench/.venv/bin/mcp-proxy ]]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q "mcp-proxy==0.13.*" httpx
fi
PY=bench/.venv/bin/python
if [[ -x .venv-e2e-mcp1/bin/python ]] && .venv-e2e-mcp1/bin/python -c "import httpx" 2>/dev/null; then PY=.venv-e2e-mcp1/bin/python; fi

BROKER_PID=""
PROXY_PID=""
cleanup() {
    [[ -n "$PROXY_PID" ]] && kill "$PROXY_PID" 2>/dev/null || true
    if [[ -n "$BROKER_PID" ]]; then stop_process "$BROKER_PID"; fi
}
trap cleanup EXIT

CHILD="$PWD/$BIN/demo-mcp-server --no-forgejo-check"
BENCH=$BIN/fjmcp-bench
LOAD=(--calls "$CALLS" --seconds "$MAX_SECONDS" --warmup 1000)

echo "== (a) direct stdio: $CHILD"
$BENCH stdio --child "$CHILD" --starts 30 --concurrency 1 "${LOAD[@]}" --label "a stdio" --json "$OUT/a-c1.json"
$BENCH stdio --child "$CHILD" --concurrency 50 "${LOAD[@]}" --label "a stdio" --json "$OUT/a-c50.json"

echo "== (b) broker: fjmcp-broker demo on 127.0.0.1:$PORT (log level $LOG_LEVEL)"
FJMCP_MAX_SESSIONS=1100 FJMCP_MAX_SESSIONS_PER_USER=1100 FJMCP_LOG_LEVEL="$LOG_LEVEL" \
FJMCP_CHILD_ENV="DEMO_MCP_OPTIONS=--no-forgejo-check" \
    $BIN/fjmcp-broker demo --listen "127.0.0.1:$PORT" >"$OUT/broker.out" 2>"$OUT/broker.err" &
BROKER_PID=$!
wait_for "http://127.0.0.1:$PORT/healthz" 30
FORGEJO=$(grep -o 'fake Forgejo at [^)]*' "$OUT/broker.out" | awk '{print $4}')
$PY bench/oauth_token.py --broker "http://127.0.0.1:$PORT" --forgejo "$FORGEJO" --logins 4 >"$OUT/tokens.json"
field() { $PY -c "import json,sys; d=json.load(open('$OUT/tokens.json')); v=d['$1']; print(','.join(v) if isinstance(v, list) else v)"; }
TOKEN=$(field access_token)
MCP="http://127.0.0.1:$PORT/mcp"
$BENCH http --url "$MCP" --token "$TOKEN" --sessions 1 --concurrency 1 "${LOAD[@]}" --close --label "b broker" --json "$OUT/b-c1.json"
$BENCH http --url "$MCP" --token "$TOKEN" --sessions 1 --concurrency 50 "${LOAD[@]}" --close --label "b broker" --json "$OUT/b-c50.json"
$BENCH http --url "$MCP" --token "$TOKEN" --sessions 50 --concurrency 50 "${LOAD[@]}" --close --label "b broker 50 sessions" --json "$OUT/b-c50-s50.json"

echo "== (c) mcp-proxy $(bench/.venv/bin/mcp-proxy --version 2>&1 | tail -1) on 127.0.0.1:$PROXY_PORT"
bench/.venv/bin/mcp-proxy --host 127.0.0.1 --port "$PROXY_PORT" --log-level WARNING -- $CHILD >"$OUT/proxy.log" 2>&1 &
PROXY_PID=$!
wait_for "http://127.0.0.1:$PROXY_PORT/status" 30
$BENCH http --url "http://127.0.0.1:$PROXY_PORT/mcp" --concurrency 1 "${LOAD[@]}" --close --label "c mcp-proxy" --json "$OUT/c-c1.json"
$BENCH http --url "http://127.0.0.1:$PROXY_PORT/mcp" --concurrency 50 "${LOAD[@]}" --close --label "c mcp-proxy" --json "$OUT/c-c50.json"
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=""

echo "== scale: idle sessions $COUNTS (broker pid $BROKER_PID; ulimit -n $(ulimit -n), -u $(ulimit -u), pid_max $(cat /proc/sys/kernel/pid_max))"
$BENCH sessions --url "$MCP" --token "$TOKEN" --pid "$BROKER_PID" --counts "$COUNTS" --seconds 420 --json "$OUT/sessions.json"

echo "== auth path"
$BENCH auth --url "$MCP" --token "$TOKEN" --token-url "$(field token_endpoint)" --client-id "$(field client_id)" \
    --refresh-tokens "$(field refresh_tokens)" --resource "$(field resource)" --spread-addresses \
    --concurrency 8 --calls "$CALLS" --refresh-calls 3000 --seconds 10 --json "$OUT/auth.json"

cleanup; BROKER_PID=""
$PY bench/report.py "$OUT" "bench/results/bench-$STAMP.json" | tee "$OUT/table.txt"

echo "== hot path: floor, broker per era, C echo child (bench/hotpath.sh)"
HOTPATH_BIN=$BIN HOTPATH_BASE_BIN=$BASE_BIN HOTPATH_JSON="bench/results/hotpath-$STAMP.json" bench/hotpath.sh | tee "$OUT/hotpath.txt"
echo "per-run files and logs: $OUT/   combined JSON: bench/results/bench-$STAMP.json"
