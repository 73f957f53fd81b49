#!/usr/bin/env bash
# Legacy c=1 A/B in interleaved rounds (issue 19's c=1 minimum on a machine whose speed drifts):
# each round runs direct stdio, the floor and every broker build for SECONDS each, one after the
# other, so each round sees the same machine; prints every round (p50 µs and the broker's context
# switches per call) and the medians of p50 and of p50 minus direct stdio ("added").
#
#   bench/c1_ab.sh BIN_DIR [BIN_DIR...]     # each holds fjmcp-broker; the first also fjmcp-floor, fjmcp-bench
# Knobs: C1_ROUNDS (12), C1_SECONDS (2), C1_PORT (19700; broker i on C1_PORT+1+i)
# Each broker is `fjmcp-broker demo` with the C echo child in its default configuration (as
# bench/hotpath.sh starts it) and one legacy session, whose child is started before the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
(($# > 0)) || { echo "usage: $0 BIN_DIR [BIN_DIR...]" >&2; exit 2; }
ROUNDS=${C1_ROUNDS:-12}
SECONDS_PER_RUN=${C1_SECONDS:-2}
PORT=${C1_PORT:-19700}
OUT=$(mktemp -d /tmp/fjmcp-c1ab.XXXXXX)
PY=python3
for candidate in .venv-e2e-mcp2/bin/python .venv-e2e-mcp1/bin/python bench/.venv/bin/python; do
    if [[ -x $candidate ]] && $candidate -c "import httpx" 2>/dev/null; then PY=$candidate; break; fi
done
cc -O2 -o "$OUT/echo-child" bench/echo-child/echo_child.c

PIDS=()
trap 'for pid in "${PIDS[@]}"; do stop_process "$pid"; done' EXIT
"$1/fjmcp-floor" "$PORT" >"$OUT/floor.log" 2>&1 &
PIDS+=($!)

LEGACY_HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
URLS=() TOKENS=() SESSIONS=() BROKERS=()
for index in $(seq 0 $(($# - 1))); do
    bin=${*:$((index + 1)):1}
    port=$((PORT + 1 + index))
    FJMCP_RATE_LIMIT_SPAWN=off FJMCP_RATE_LIMIT_AUTHORIZE=off FJMCP_RATE_LIMIT_TOKEN=off \
        "$bin/fjmcp-broker" demo --listen "127.0.0.1:$port" --child "$OUT/echo-child" >"$OUT/b$index.out" 2>"$OUT/b$index.err" &
    BROKERS+=($!)
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/healthz" 60
    forgejo=$(grep -o 'fake Forgejo at [^) ]*' "$OUT/b$index.out" | awk '{print $4}')
    $PY bench/oauth_token.py --broker "http://127.0.0.1:$port" --forgejo "$forgejo" --users 1 >"$OUT/t$index.json"
    token=$($PY -c "import json; print(json.load(open('$OUT/t$index.json'))['access_token'])")
    url="http://127.0.0.1:$port/mcp"
    curl -s -D "$OUT/headers" -o /dev/null -H "Authorization: Bearer $token" "${LEGACY_HEADERS[@]}" \
        --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c1ab","version":"1"}}}' "$url"
    session=$(tr -d '\r' <"$OUT/headers" | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
    [[ -n $session ]] || { echo "no session from $bin" >&2; exit 1; }
    session_headers=(-H "Authorization: Bearer $token" -H "Mcp-Session-Id: $session" -H 'MCP-Protocol-Version: 2025-11-25' "${LEGACY_HEADERS[@]}")
    curl -s -o /dev/null "${session_headers[@]}" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
    answer=$(curl -s "${session_headers[@]}" --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}' "$url")
    [[ $answer == *'"result"'* ]] || { echo "$bin: not a result: ${answer:0:200}" >&2; exit 1; }
    URLS+=("$url") TOKENS+=("$token") SESSIONS+=("$session")
done

switches() { # the process's context switches, all threads
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {total += $2} END {print total}'
}
p50() { grep '^{"requests"' | $PY -c "import json, sys; print(json.load(sys.stdin)['p50_us'])"; }
requests() { grep '^{"requests"' | $PY -c "import json, sys; print(json.load(sys.stdin)['requests'])"; }

for round in $(seq 1 "$ROUNDS"); do
    direct=$("$1/fjmcp-bench" stdio --child "$OUT/echo-child" --concurrency 1 --calls 20000 --seconds "$SECONDS_PER_RUN" \
        --warmup 200 --label direct --json "$OUT/direct.json" >/dev/null 2>&1 && $PY -c "import json; print(round(json.load(open('$OUT/direct.json'))['p50Ms'] * 1000))")
    floor=$(MCP_MODE=floor wrk -t1 -c1 -d"${SECONDS_PER_RUN}s" -s bench/wrk/mcp_call.lua "http://127.0.0.1:$PORT/mcp" | p50)
    line="round $round direct $direct floor $floor"
    for index in "${!URLS[@]}"; do
        before=$(switches "${BROKERS[$index]}")
        MCP_MODE=legacy MCP_TOKENS=${TOKENS[$index]} MCP_SESSIONS=${SESSIONS[$index]} \
            wrk -t1 -c1 -d"${SECONDS_PER_RUN}s" -s bench/wrk/mcp_call.lua "${URLS[$index]}" >"$OUT/wrk.txt"
        after=$(switches "${BROKERS[$index]}")
        line="$line b$index $(p50 <"$OUT/wrk.txt") $($PY -c "print(round(($after - $before) / $(requests <"$OUT/wrk.txt"), 2))")"
    done
    echo "$line" | tee -a "$OUT/rounds.txt"
done
$PY - "$OUT/rounds.txt" "$@" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
direct = [int(row[3]) for row in rows]
print(f"medians over {len(rows)} rounds: direct {statistics.median(direct)} µs, floor {statistics.median(int(row[5]) for row in rows)} µs")
for index, build in enumerate(sys.argv[2:]):
    p50 = [int(row[7 + 3 * index]) for row in rows]
    added = [value - base for value, base in zip(p50, direct)]
    switches = [float(row[8 + 3 * index]) for row in rows]
    print(f"b{index} {build}: p50 {statistics.median(p50)} µs, added {statistics.median(added)} µs "
          f"(<= 200 in {sum(a <= 200 for a in added)}/{len(added)} rounds), context switches per call "
          f"{min(switches)}-{max(switches)}")
EOF
