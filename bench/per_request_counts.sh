#!/usr/bin/env bash
# Counts what each forwarded tools/call makes the broker do, per era: Swift tasks created
# (swift_task_create), jobs queued on the event loops (swift_task_enqueueGlobal: every executor
# hop that could not continue inline) and Foundation JSON calls (JSONSerialization.jsonObject/data(withJSONObject:),
# JSONDecoder.decode, JSONEncoder.encode), with perf uprobes on the Swift runtime's shared
# libraries, over a fixed wrk run against `fjmcp-broker demo` and the C echo child, divided by
# the requests. Exact counts, not samples: "no task per request" is a figure below 1 (what
# remains are per-connection and background tasks), "no Foundation JSON" a zero.
#   bench/per_request_counts.sh [BIN_DIR]     # release binaries (default .build-release/release)
# Needs root (perf probe) and a dynamically linked broker (the default build). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
BIN=${1:-.build-release/release}
PORT=${COUNTS_PORT:-18610}
SECONDS_PER_RUN=${COUNTS_SECONDS:-4}
OUT=$(mktemp -d /tmp/fjmcp-counts.XXXXXX)
PY=$(httpx_python)
LIBS=$(dirname "$(ldd "$BIN/fjmcp-broker" | awk '/libswift_Concurrency.so/ {print $3}')")
[[ -d $LIBS ]] || { echo "the broker is not linked against the Swift runtime's shared libraries" >&2; exit 1; }

PROBES=(
    "libswift_Concurrency.so|fjmcp_task=swift_task_create"
    "libswift_Concurrency.so|fjmcp_job=swift_task_enqueueGlobal"
    "libFoundation.so|fjmcp_json_parse=\$s10Foundation17JSONSerializationC10jsonObject4with7optionsyp0A10Essentials4DataV_AC14ReadingOptionsVtKFZ"
    "libFoundation.so|fjmcp_json_write=\$s10Foundation17JSONSerializationC4data14withJSONObject7options0A10Essentials4DataVyp_AC14WritingOptionsVtKFZ"
    "libFoundationEssentials.so|fjmcp_json_decode=\$s20FoundationEssentials11JSONDecoderC6decode_4fromxxm_AA4DataVtKSeRzlF"
    "libFoundationEssentials.so|fjmcp_json_encode=\$s20FoundationEssentials11JSONEncoderC6encodeyAA4DataVxKSERzlF"
)
EVENTS=()
BROKER_PID=""
cleanup() {
    [[ -n $BROKER_PID ]] && stop_process "$BROKER_PID"
    perf probe -q -d 'probe_lib*:fjmcp_*' 2>/dev/null || true
}
trap cleanup EXIT
for probe in "${PROBES[@]}"; do
    lib=${probe%%|*} spec=${probe#*|}
    perf probe -q -x "$LIBS/$lib" --add "$spec" 2>/dev/null || { echo "perf probe failed for ${spec%%=*}" >&2; exit 1; }
    group=probe_${lib%.so}
    EVENTS+=("${group//./_}:${spec%%=*}")
done

cc -O2 -o "$OUT/echo-child" bench/echo-child/echo_child.c
FJMCP_RATE_LIMIT_SPAWN=off FJMCP_RATE_LIMIT_AUTHORIZE=off FJMCP_RATE_LIMIT_TOKEN=off \
    "$BIN/fjmcp-broker" demo --listen "127.0.0.1:$PORT" --child "$OUT/echo-child" >"$OUT/out" 2>"$OUT/err" &
BROKER_PID=$!
wait_for "http://127.0.0.1:$PORT/healthz" 60
FORGEJO=$(grep -o 'fake Forgejo at [^) ]*' "$OUT/out" | awk '{print $4}')
$PY bench/oauth_token.py --broker "http://127.0.0.1:$PORT" --forgejo "$FORGEJO" --users 1 >"$OUT/tokens.json"
TOKEN=$($PY -c "import json; print(json.load(open('$OUT/tokens.json'))['access_token'])")
TARGET="http://127.0.0.1:$PORT/mcp"
curl -s -D "$OUT/headers" -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"counts","version":"1"}}}' \
    "$TARGET"
SESSION=$(tr -d '\r' <"$OUT/headers" | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')

printf '%-12s %9s' mode requests
for event in "${EVENTS[@]}"; do printf ' %18s' "${event#*:fjmcp_}/req"; done
echo
for mode in legacy modern sessionless; do
    # Warm-up: the user's child, connections and caches exist before counting.
    MCP_MODE=$mode MCP_TOKENS=$TOKEN MCP_SESSIONS=$SESSION wrk -t1 -c8 -d1s -s bench/wrk/mcp_call.lua "$TARGET" >/dev/null
    perf stat -x, -o "$OUT/$mode.stat" $(printf -- '-e %s ' "${EVENTS[@]}") -p "$BROKER_PID" -- \
        env MCP_MODE=$mode MCP_TOKENS=$TOKEN MCP_SESSIONS=$SESSION \
        wrk -t1 -c8 -d"${SECONDS_PER_RUN}s" -s bench/wrk/mcp_call.lua "$TARGET" >"$OUT/$mode.wrk"
    requests=$(grep -o '"requests":[0-9]*' "$OUT/$mode.wrk" | cut -d: -f2)
    printf '%-12s %9s' "$mode" "$requests"
    for event in "${EVENTS[@]}"; do
        count=$(awk -F, -v e="$event" '$3 == e {print $1}' "$OUT/$mode.stat")
        printf ' %18s' "$(awk -v c="${count:-0}" -v r="$requests" 'BEGIN {printf "%.4f", c / r}')"
    done
    echo
done
