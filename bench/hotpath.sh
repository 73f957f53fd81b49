#!/usr/bin/env bash
# The hot path (issue 19): what a `tools/call` costs the broker above the floor, per era, in one run.
#
#   (d) direct stdio to the C echo child (fjmcp-bench stdio): the physical limit
#   (c=1 rows, (d) included, run in interleaved rounds and are reported as their medians)
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
# Then session creation (the child's own start, initialize without a spawn against a plain round
# trip, a session's first call that starts its child) and the broker's memory per idle session.
# With HOTPATH_BASE_BIN (a directory holding the fjmcp-broker of the commit before the hot-path
# work, see bench/run.sh) every broker row and the session figures are measured for that broker
# too, in the same run, one after the other, and the report prints both columns.
# Knobs: HOTPATH_BIN (binaries), HOTPATH_BASE_BIN, HOTPATH_SECONDS (10 per row), HOTPATH_C1_ROUNDS
# (5; 1 for --smoke), HOTPATH_PORT (18500, the baseline broker +2), HOTPATH_JSON (file)
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
PY=$(httpx_python)
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
    echo "{\"label\":\"$label\",\"build\":\"${BUILD:-new}\",\"concurrency\":$concurrency,\"cpu_ticks\":$((after - before)),\"ticks_per_second\":$(getconf CLK_TCK),\"wrk\":$json}" \
        >>"$OUT/runs.jsonl"
}

echo "== (f) the floor: fjmcp-floor on 127.0.0.1:$FLOOR_PORT"
"$BIN/fjmcp-floor" "$FLOOR_PORT" >"$OUT/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
for _ in $(seq 1 100); do grep -q listening "$OUT/floor.log" && break; sleep 0.1; done
FLOOR_URL="http://127.0.0.1:$FLOOR_PORT/mcp"

# start_broker NAME BIN PORT: `fjmcp-broker demo` with the C echo child; signs USERS users in and
# opens USERS sessions for the first. Sets ${NAME}_PID, _URL, _TOKEN, _USER_TOKENS, _SESSIONS.
USERS=$([[ $SMOKE == 1 ]] && echo 3 || echo 50)
start_broker() {
    local name=$1 bin=$2 port=$3
    FJMCP_RATE_LIMIT_SPAWN=off FJMCP_RATE_LIMIT_AUTHORIZE=off FJMCP_RATE_LIMIT_TOKEN=off \
    FJMCP_MAX_SESSIONS=1000 FJMCP_MAX_SESSIONS_PER_USER=1000 \
        "$bin/fjmcp-broker" demo --listen "127.0.0.1:$port" --child "$OUT/echo-child" >"$OUT/$name.out" 2>"$OUT/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    wait_for "http://127.0.0.1:$port/healthz" 60
    local forgejo
    forgejo=$(grep -o 'fake Forgejo at [^) ]*' "$OUT/$name.out" | awk '{print $4}')
    $PY bench/oauth_token.py --broker "http://127.0.0.1:$port" --forgejo "$forgejo" --users "$USERS" >"$OUT/$name-tokens.json"
    local token user_tokens
    token=$($PY -c "import json; print(json.load(open('$OUT/$name-tokens.json'))['access_token'])")
    user_tokens=$($PY -c "import json; print(','.join(json.load(open('$OUT/$name-tokens.json'))['user_access_tokens']))")
    TARGET="http://127.0.0.1:$port/mcp"
    local sessions=()
    for _ in $(seq 1 "$USERS"); do sessions+=("$(open_session "$token")"); done
    # Every mode answers a result before it is measured (a stream of errors would look fast).
    for mode in legacy modern sessionless; do check_mode "$mode" "$token" "${sessions[0]}"; done
    # Each user's child is started here, not inside a measured run.
    for user_token in ${user_tokens//,/ }; do check_mode modern "$user_token" ""; done
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_URL" '%s' "$TARGET"
    printf -v "${name}_TOKEN" '%s' "$token"
    printf -v "${name}_USER_TOKENS" '%s' "$user_tokens"
    printf -v "${name}_SESSIONS" '%s' "$(IFS=,; echo "${sessions[*]}")"
}

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

BUILDS=(new)
echo "== (b) the broker: fjmcp-broker demo on 127.0.0.1:$PORT with the C echo child ($BIN)"
start_broker new "$BIN" "$PORT"
if [[ -n ${HOTPATH_BASE_BIN:-} ]]; then
    [[ -x $HOTPATH_BASE_BIN/fjmcp-broker ]] || { echo "$HOTPATH_BASE_BIN/fjmcp-broker is missing" >&2; exit 1; }
    echo "== (b') the baseline broker on 127.0.0.1:$((PORT + 2)) ($HOTPATH_BASE_BIN)"
    start_broker base "$HOTPATH_BASE_BIN" "$((PORT + 2))"
    BUILDS+=(base)
fi

# Session creation: the child's own start (direct, and as the broker times its spawns), initialize
# answered without a spawn against a plain round trip, sessions opened one by one (a spawn each
# when the child command's answer for the requested version is not known) that each make one
# call (so each has its child whichever step started it), and the broker's memory per session,
# measured before the load runs so that memory the allocator kept from them does not hide it.
echo "== session creation and idle sessions"
STARTS=$([[ $SMOKE == 1 ]] && echo 3 || echo 30)
"$BIN/fjmcp-bench" stdio --child "$OUT/echo-child" --starts "$STARTS" --concurrency 1 --calls 200 --seconds 5 --warmup 10 \
    --label "child start" --json "$OUT/child-start.json" >/dev/null
IDLE_COUNTS=$([[ $SMOKE == 1 ]] && echo 0,5 || echo 0,200)
CREATIONS=$([[ $SMOKE == 1 ]] && echo 20 || echo 500)
for build in "${BUILDS[@]}"; do
    pid_var=${build}_PID url_var=${build}_URL token_var=${build}_TOKEN
    base_url=${!url_var%/mcp}
    $PY bench/session_creation.py --url "$base_url" --token "${!token_var}" --count "$CREATIONS" --json "$OUT/creation-$build.json" >/dev/null
    # The broker's own timing of each spawn (fjmcp_child_spawn_duration_seconds: spawn, through
    # the sandbox, to the initialize answer), read around the run: the child's start as deployed.
    curl -s "$base_url/metrics" >"$OUT/metrics-before-$build.txt"
    "$BIN/fjmcp-bench" sessions --url "${!url_var}" --token "${!token_var}" --pid "${!pid_var}" --counts "$IDLE_COUNTS" --call-each \
        --settle 3 --seconds 300 --json "$OUT/sessions-$build.json" 2>/dev/null
    curl -s "$base_url/metrics" >"$OUT/metrics-after-$build.txt"
done
sleep 3   # the sessions' children, stopped at the end of that run, are gone before the load runs

# settle PID: waits (up to 30 s) until the process has used under 2 % of a core for a second:
# the 500 sessions and 200 children just ended leave store writes and reaping behind, which
# landed in the first measured run (the legacy c=1 row) and in no other.
settle() {
    local quiet=0 before after
    for _ in $(seq 1 60); do
        before=$(cpu_ticks "$1")
        sleep 0.5
        after=$(cpu_ticks "$1")
        if ((after - before <= 1)); then
            quiet=$((quiet + 1))
            if ((quiet >= 2)); then return 0; fi
        else
            quiet=0
        fi
    done
    echo "pid $1 did not settle within 30 s; measuring anyway" >&2
}
# warm_up: one unmeasured second of legacy c=1 per build (its first calls move the session's
# pipes to the connection's event loop and fill caches), so the first row is not a cold start.
for build in "${BUILDS[@]}"; do
    pid_var=${build}_PID url_var=${build}_URL token_var=${build}_TOKEN sessions_var=${build}_SESSIONS
    settle "${!pid_var}"
    MCP_MODE=legacy MCP_TOKENS=${!token_var} MCP_SESSIONS=${!sessions_var%%,*} \
        wrk -t1 -c1 -d1s -s bench/wrk/mcp_call.lua "${!url_var}" >/dev/null 2>&1 || true
done

# row LABEL CONCURRENCY MODE WHICH: the same run on every build, one after the other, so each
# pair sees the same machine. WHICH: one (the first token and session) or all (every one).
row() {
    local label=$1 concurrency=$2 mode=$3 which=$4 build
    for build in "${BUILDS[@]}"; do
        local pid_var=${build}_PID url_var=${build}_URL token_var=${build}_TOKEN users_var=${build}_USER_TOKENS sessions_var=${build}_SESSIONS
        local tokens=${!token_var} sessions=${!sessions_var}
        [[ $which == one ]] && sessions=${sessions%%,*}
        [[ $which == all && $mode == modern ]] && tokens=${!users_var}
        [[ $mode == legacy ]] || sessions=""
        TARGET=${!url_var} BUILD=$build MCP_MODE=$mode MCP_TOKENS=$tokens MCP_SESSIONS=$sessions run "$label" "${!pid_var}" "$concurrency"
    done
}
# c=1 in interleaved rounds: (d) direct stdio to the C echo child, the floor and every broker row
# run one after the other in each round, RUN_SECONDS / HOTPATH_C1_ROUNDS each, so every round
# sees the same machine (this one's speed drifts by tens of percent between minutes); the report
# gives the median p50 of the rounds and their worst p99. Then c=50, one run each.
C1_ROUNDS=${HOTPATH_C1_ROUNDS:-$([[ $SMOKE == 1 ]] && echo 1 || echo 5)}
((C1_ROUNDS >= 1)) || C1_ROUNDS=1
ROUND_SECONDS=$((RUN_SECONDS / C1_ROUNDS > 0 ? RUN_SECONDS / C1_ROUNDS : 1))
DIRECT_CALLS=$([[ $SMOKE == 1 ]] && echo 2000 || echo 1000000)
echo "== c=1: $C1_ROUNDS interleaved rounds of ${ROUND_SECONDS} s per row (direct stdio, floor, brokers)"
for round in $(seq 1 "$C1_ROUNDS"); do
    "$BIN/fjmcp-bench" stdio --child "$OUT/echo-child" --concurrency 1 --calls "$DIRECT_CALLS" --seconds "$ROUND_SECONDS" \
        --warmup 500 --label "direct" --json "$OUT/direct-$round.json" >/dev/null
    RUN_SECONDS=$ROUND_SECONDS TARGET=$FLOOR_URL MCP_MODE=floor run "floor" "$FLOOR_PID" 1
    RUN_SECONDS=$ROUND_SECONDS row "legacy, 1 session" 1 legacy one
    RUN_SECONDS=$ROUND_SECONDS row "2026-07-28, 1 user" 1 modern one
    RUN_SECONDS=$ROUND_SECONDS row "session-less, 1 user" 1 sessionless one
done
echo "== c=50"
TARGET=$FLOOR_URL MCP_MODE=floor run "floor" "$FLOOR_PID" 50
row "legacy, 1 session" 50 legacy one
row "2026-07-28, 1 user" 50 modern one
row "session-less, 1 user" 50 sessionless one
row "legacy, $USERS sessions" 50 legacy all
row "2026-07-28, $USERS users" 50 modern all

$PY bench/hotpath_report.py "$OUT" ${HOTPATH_JSON:+--json "$HOTPATH_JSON"} $([[ $SMOKE == 1 ]] && echo --smoke)
echo "per-run files and logs: $OUT/"
