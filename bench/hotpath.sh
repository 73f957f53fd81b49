#!/usr/bin/env bash
# The hot path (issue 19): what a `tools/call` costs the broker above the floor, per era, in one run.
#
#   (d) direct stdio to the C echo child (fjmcp-bench stdio): the physical limit
#   (f) the floor: fjmcp-floor, the same HTTP stack answering a fixed result, nothing else
#   (b) fjmcp-broker demo with the C echo child, default configuration (sandbox, bounds, policies
#       as shipped; only the spawn and sign-in rate limits are off, so 50 users can sign in and
#       open sessions at once; no measured request passes through them):
#       legacy (Mcp-Session-Id), 2026-07-28 (`_meta`, the user's child), session-less legacy;
#       c=1 and c=50; one session/user and 50 sessions (legacy) or 50 users (2026-07-28)
# Load: wrk with bench/wrk/mcp_call.lua (per-request latency as wrk measures it, no coordinated-
# omission correction); the broker's and the floor's CPU per request from /proc/PID/stat deltas.
# Prints a table, a verdict line per target, and writes JSON to $HOTPATH_JSON when set.
#
#   bench/hotpath.sh                 # release binaries from .build-release (make bench builds them)
#   bench/hotpath.sh --smoke         # CI: the debug build, 1 s per run, no thresholds
# Knobs: HOTPATH_BIN (binaries), HOTPATH_SECONDS (10), HOTPATH_PORT (18500), HOTPATH_JSON (file)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SMOKE=0
[[ "${1:-}" == --smoke ]] && SMOKE=1
if [[ $SMOKE == 1 ]]; then
    BIN=${HOTPATH_BIN:-.build/debug}
    RUN_SECONDS=${HOTPATH_SECONDS:-1}
else
    BIN=${HOTPATH_BIN:-.build-release/release}
    RUN_SECONDS=${HOTPATH_SECONDS:-10}
fi
PORT=${HOTPATH_PORT:-18500}
FLOOR_PORT=$((PORT + 1))
OUT=$(mktemp -d /tmp/fjmcp-hotpath.XXXXXX)
PY=python3
for candidate in .venv-e2e-mcp2/bin/python .venv-e2e-mcp1/bin/python bench/.venv/bin/python; do
    if [[ -x $candidate ]] && $candidate -c "import httpx" 2>/dev/null; then PY=$candidate; break; fi
done
command -v wrk >/dev/null || { echo "wrk is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
for binary in fjmcp-broker fjmcp-floor fjmcp-bench; do
    [[ -x $BIN/$binary ]] || { echo "$BIN/$binary is missing: build it first" >&2; exit 1; }
done

cc -O2 -o "$OUT/echo-child" bench/echo-child/echo_child.c

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do stop_process "$pid"; done
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run LABEL PID CONCURRENCY  (environment: MCP_MODE, MCP_TOKENS, MCP_SESSIONS; URL in $TARGET)
run() {
    local label=$1 pid=$2 concurrency=$3 threads=2 before after
    [[ $concurrency == 1 ]] && threads=1
    before=$(cpu_ticks "$pid")
    wrk -t"$threads" -c"$concurrency" -d"${RUN_SECONDS}s" --timeout 10s -s bench/wrk/mcp_call.lua "$TARGET" \
        >"$OUT/wrk.txt" 2>&1 || { cat "$OUT/wrk.txt" >&2; return 1; }
    after=$(cpu_ticks "$pid")
    local json
    json=$(grep '^{"requests"' "$OUT/wrk.txt") || { cat "$OUT/wrk.txt" >&2; return 1; }
    echo "{\"label\":\"$label\",\"concurrency\":$concurrency,\"cpu_ticks\":$((after - before)),\"ticks_per_second\":$(getconf CLK_TCK),\"wrk\":$json}" \
        >>"$OUT/runs.jsonl"
}

echo "== (d) direct stdio to the C echo child"
DIRECT_CALLS=$([[ $SMOKE == 1 ]] && echo 2000 || echo 50000)
"$BIN/fjmcp-bench" stdio --child "$OUT/echo-child" --concurrency 1 --calls "$DIRECT_CALLS" --seconds "$RUN_SECONDS" \
    --warmup 500 --label "direct" --json "$OUT/direct.json" >/dev/null

echo "== (f) the floor: fjmcp-floor on 127.0.0.1:$FLOOR_PORT"
"$BIN/fjmcp-floor" "$FLOOR_PORT" >"$OUT/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
for _ in $(seq 1 100); do grep -q listening "$OUT/floor.log" && break; sleep 0.1; done
TARGET="http://127.0.0.1:$FLOOR_PORT/mcp"
for c in 1 50; do MCP_MODE=floor run "floor" "$FLOOR_PID" "$c"; done

echo "== (b) the broker: fjmcp-broker demo on 127.0.0.1:$PORT with the C echo child"
FJMCP_RATE_LIMIT_SPAWN=off FJMCP_RATE_LIMIT_AUTHORIZE=off FJMCP_RATE_LIMIT_TOKEN=off \
FJMCP_MAX_SESSIONS=200 FJMCP_MAX_SESSIONS_PER_USER=100 \
    "$BIN/fjmcp-broker" demo --listen "127.0.0.1:$PORT" --child "$OUT/echo-child" >"$OUT/broker.out" 2>"$OUT/broker.err" &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
wait_for "http://127.0.0.1:$PORT/healthz" 60
FORGEJO=$(grep -o 'fake Forgejo at [^) ]*' "$OUT/broker.out" | awk '{print $4}')
USERS=$([[ $SMOKE == 1 ]] && echo 3 || echo 50)
$PY bench/oauth_token.py --broker "http://127.0.0.1:$PORT" --forgejo "$FORGEJO" --users "$USERS" >"$OUT/tokens.json"
TOKEN=$($PY -c "import json; print(json.load(open('$OUT/tokens.json'))['access_token'])")
USER_TOKENS=$($PY -c "import json; print(','.join(json.load(open('$OUT/tokens.json'))['user_access_tokens']))")
TARGET="http://127.0.0.1:$PORT/mcp"

open_session() { # token → session id (initialize + notifications/initialized)
    local headers="$OUT/headers.txt"
    curl -s -D "$headers" -o /dev/null -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' \
        --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"hotpath","version":"1"}}}' \
        "$TARGET"
    local id
    id=$(tr -d '\r' <"$headers" | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
    [[ -n $id ]] || { echo "initialize gave no session id" >&2; cat "$headers" >&2; return 1; }
    curl -s -o /dev/null -H "Authorization: Bearer $1" -H "Mcp-Session-Id: $id" -H 'MCP-Protocol-Version: 2025-11-25' \
        -H 'Content-Type: application/json' --data '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$TARGET"
    echo "$id"
}
SESSIONS=()
for _ in $(seq 1 "$USERS"); do SESSIONS+=("$(open_session "$TOKEN")"); done
ONE_SESSION=${SESSIONS[0]}
ALL_SESSIONS=$(IFS=,; echo "${SESSIONS[*]}")

# Every mode answers a result before it is measured (a stream of errors would look fast).
check_mode() { # mode token session
    local headers=(-H "Authorization: Bearer $2" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
    local body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
    case $1 in
        legacy) headers+=(-H "Mcp-Session-Id: $3" -H 'MCP-Protocol-Version: 2025-11-25') ;;
        sessionless) headers+=(-H 'MCP-Protocol-Version: 2025-11-25') ;;
        modern)
            headers+=(-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: echo')
            body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"hotpath","version":"1"}}}}' ;;
    esac
    local answer
    answer=$(curl -s "${headers[@]}" --data "$body" "$TARGET")
    [[ $answer == *'"result"'* && $answer != *'"isError":true'* ]] || { echo "$1: not a result: ${answer:0:300}" >&2; return 1; }
}
for mode in legacy modern sessionless; do check_mode "$mode" "$TOKEN" "$ONE_SESSION"; done
# Each user's child is started here, not inside a measured run.
for token in ${USER_TOKENS//,/ }; do check_mode modern "$token" ""; done

for c in 1 50; do
    MCP_MODE=legacy MCP_TOKENS=$TOKEN MCP_SESSIONS=$ONE_SESSION run "legacy, 1 session" "$BROKER_PID" "$c"
    MCP_MODE=modern MCP_TOKENS=$TOKEN run "2026-07-28, 1 user" "$BROKER_PID" "$c"
    MCP_MODE=sessionless MCP_TOKENS=$TOKEN run "session-less, 1 user" "$BROKER_PID" "$c"
done
MCP_MODE=legacy MCP_TOKENS=$TOKEN MCP_SESSIONS=$ALL_SESSIONS run "legacy, $USERS sessions" "$BROKER_PID" 50
MCP_MODE=modern MCP_TOKENS=$USER_TOKENS run "2026-07-28, $USERS users" "$BROKER_PID" 50

$PY bench/hotpath_report.py "$OUT" ${HOTPATH_JSON:+--json "$HOTPATH_JSON"} $([[ $SMOKE == 1 ]] && echo --smoke)
echo "per-run files and logs: $OUT/"
