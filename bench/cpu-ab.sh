#!/usr/bin/env bash
# The broker's own CPU per tools/call, A/B: two builds of `fjmcp-broker demo` (e.g. the commit
# before a change and after it), measured alternately in one sitting so that both see the same
# machine. CPU is the broker process's utime+stime from /proc/PID/stat over a fixed number of
# calls (the child's CPU is not counted), divided by the calls: microseconds per call.
#   bench/cpu-ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS]
# Both directories hold fjmcp-broker and demo-mcp-server (release builds); the load generator is
# NEW_BIN_DIR/fjmcp-bench for both. Knobs: AB_CALLS (20000) AB_CONCURRENCY (8) AB_PORT (18490).
# Children run unconfined in both (FJMCP_CHILD_SANDBOX=off), so only the broker's path differs.
# Loopback only; every run is bounded in calls and seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=$1
NEW=$2
ROUNDS=${3:-3}
CALLS=${AB_CALLS:-20000}
CONCURRENCY=${AB_CONCURRENCY:-8}
PORT=${AB_PORT:-18490}
HZ=$(getconf CLK_TCK)
BENCH=$NEW/fjmcp-bench
WORK=$(mktemp -d /tmp/fjmcp-cpu-ab.XXXXXX)
PY=python3
for candidate in .venv-e2e-mcp1/bin/python bench/.venv/bin/python; do
    if [[ -x $candidate ]] && $candidate -c "import httpx" 2>/dev/null; then PY=$candidate; break; fi
done

BROKER_PID=""
cleanup() { [[ -n "$BROKER_PID" ]] && { kill "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null; } || true; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure BIN LABEL: prints microseconds of broker CPU per call
measure() {
    local bin=$1 label=$2 dir="$WORK/$2"
    mkdir -p "$dir"
    FJMCP_LOG_LEVEL=info FJMCP_CHILD_SANDBOX=off FJMCP_CHILD_ENV="DEMO_MCP_OPTIONS=--no-forgejo-check" \
        "$bin/fjmcp-broker" demo --listen "127.0.0.1:$PORT" --child "$(cd "$bin" && pwd)/demo-mcp-server --no-forgejo-check" \
        >"$dir/out" 2>"$dir/err" &
    BROKER_PID=$!
    for _ in $(seq 1 300); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    local forgejo
    forgejo=$(grep -o 'fake Forgejo at [^)]*' "$dir/out" | awk '{print $4}')
    $PY bench/oauth_token.py --broker "http://127.0.0.1:$PORT" --forgejo "$forgejo" --logins 1 >"$dir/tokens.json"
    local token
    token=$($PY -c "import json; print(json.load(open('$dir/tokens.json'))['access_token'])")
    local url="http://127.0.0.1:$PORT/mcp"
    # Warm-up (session, caches, JIT-free but page-ins), then the measured calls.
    "$BENCH" http --url "$url" --token "$token" --concurrency "$CONCURRENCY" --calls 2000 --warmup 500 --seconds 30 >/dev/null
    local before after
    before=$(cpu_ticks "$BROKER_PID")
    "$BENCH" http --url "$url" --token "$token" --concurrency "$CONCURRENCY" --calls "$CALLS" --warmup 0 --seconds 120 \
        --label "$label" --json "$dir/run.json" >/dev/null
    after=$(cpu_ticks "$BROKER_PID")
    local done_calls
    done_calls=$($PY -c "import json; d=json.load(open('$dir/run.json')); print(d.get('calls') or d.get('count') or $CALLS)")
    cleanup
    BROKER_PID=""
    echo $(( (after - before) * 1000000 / HZ / done_calls ))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }

old_runs=()
new_runs=()
for round in $(seq 1 "$ROUNDS"); do
    old_runs+=("$(measure "$OLD" "old-$round")")
    new_runs+=("$(measure "$NEW" "new-$round")")
    echo "round $round: old ${old_runs[-1]} µs/call, new ${new_runs[-1]} µs/call (c=$CONCURRENCY, $CALLS calls)"
done
old_median=$(median "${old_runs[@]}")
new_median=$(median "${new_runs[@]}")
echo "median broker CPU per call: old $old_median µs, new $new_median µs ($(( (new_median - old_median) * 100 / old_median ))% change)"
