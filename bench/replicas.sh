#!/usr/bin/env bash
# Replicas (issue 17): what the forwarding hop costs, and how many idle sessions three replicas
# hold on this machine. Outside CI; bounded (every run has a time limit, the idle part a session
# count); everything listens on 127.0.0.1 and is stopped at the end.
#
#   1. a throwaway PostgreSQL (scripts/postgres.sh), the fake Forgejo, and REPLICAS (3) release
#      `fjmcp-broker serve` replicas on one database, each with FJMCP_REPLICA_URL its own address,
#      the C echo child (bench/echo-child: the child's own cost stays out of the figures), the
#      default configuration otherwise (spawn and sign-in rate limits off, so the idle part may
#      open its sessions at once);
#   2. a token from the real OAuth flow (bench/oauth_token.py, through replica 1), a legacy
#      session opened on replica 1 whose first call starts its child there;
#   3. tools/call latency with wrk (bench/wrk/mcp_call.lua) at c=1 and c=50, sent to replica 1
#      (local: it holds the child) and to replica 2 (forwarded: replica 2 finds the child held by
#      replica 1 and sends the request there over the signed hop), p50/p99 and calls/s, and the
#      added latency per forwarded call; replica 2's own fjmcp_replica_hop_added_seconds too;
#      for the legacy session and for 2026-07-28 requests (the user's child, also on replica 1);
#   4. idle sessions: IDLE sessions opened round robin over the replicas, each with one call (its
#      child starts on the replica the session was opened on), then every session called once
#      through ANOTHER replica (all forwarded); memory: the replicas' RSS growth per session and
#      each child's process tree (PSS), plus bench/child_memory.py for the demo child and the
#      gitea-mcp stand-in, so sessions per GiB and what this machine holds are computed.
#
#   bench/replicas.sh                   # release binaries from .build-release/release
#   REPLICAS_BIN=/work/base/.build-release/release bench/replicas.sh
# Knobs: REPLICAS_BIN, REPLICAS (3), REPLICAS_SECONDS (10 per wrk run), REPLICAS_IDLE (150),
# REPLICAS_PORT (18600: replicas at +1…, fake Forgejo at +0), REPLICAS_JSON (write the figures)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BIN=${REPLICAS_BIN:-.build-release/release}
COUNT=${REPLICAS:-3}
RUN_SECONDS=${REPLICAS_SECONDS:-10}
IDLE=${REPLICAS_IDLE:-150}
PORT=${REPLICAS_PORT:-18600}
(( COUNT >= 2 && COUNT <= 5 )) || { echo "REPLICAS must be 2 to 5" >&2; exit 2; }
(( IDLE >= COUNT && IDLE <= 1000 )) || { echo "REPLICAS_IDLE must be $COUNT to 1000" >&2; exit 2; }
OUT=$(mktemp -d /tmp/fjmcp-replicas.XXXXXX)
PY=$(httpx_python)
command -v wrk >/dev/null || { echo "wrk is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
for binary in fjmcp-broker fake-forgejo demo-mcp-server; do
    [[ -x $BIN/$binary ]] || { echo "$BIN/$binary is missing: swift build -c release --scratch-path .build-release --product $binary" >&2; exit 1; }
done

PIDS=()
PG_DIR=""
cleanup() {
    for pid in "${PIDS[@]}"; do stop_process "$pid"; done
    [[ -z $PG_DIR ]] || scripts/postgres.sh stop "$PG_DIR"
}
trap cleanup EXIT

cc -O2 -o "$OUT/echo-child" bench/echo-child/echo_child.c

echo "== PostgreSQL (scripts/postgres.sh)"
scripts/postgres.sh start >"$OUT/postgres.txt"
DATABASE_URL=$(sed -n 1p "$OUT/postgres.txt")
PG_DIR=$(sed -n 2p "$OUT/postgres.txt")

PUBLIC_URL="http://127.0.0.1:$((PORT + 1))"
CLIENT_ID=fjmcp-bench-replicas
CLIENT_SECRET=bench-not-a-secret
echo "== fake Forgejo on 127.0.0.1:$PORT"
"$BIN/fake-forgejo" --listen "127.0.0.1:$PORT" --user demo:demo-password \
    --app "$CLIENT_ID:$CLIENT_SECRET:$PUBLIC_URL/oauth/callback" --auto-approve demo >"$OUT/forgejo.out" 2>"$OUT/forgejo.err" &
PIDS+=($!)
FORGEJO_URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do grep -q "listening" "$OUT/forgejo.out" "$OUT/forgejo.err" 2>/dev/null && break; sleep 0.1; done

# One key for every replica: it seals the Forgejo tokens any replica must open, and keys the hop.
umask 077
openssl rand -hex 32 >"$OUT/secret.key"
umask 022

echo "== $COUNT replicas ($BIN/fjmcp-broker serve) on one database"
REPLICA_PIDS=()
REPLICA_URLS=()
for index in $(seq 1 "$COUNT"); do
    port=$((PORT + index))
    mkdir -m 0700 "$OUT/data-$index"
    env -i PATH="$PATH" HOME="$OUT" \
        FJMCP_PUBLIC_URL="$PUBLIC_URL" FJMCP_LISTEN="127.0.0.1:$port" FJMCP_DATA_DIR="$OUT/data-$index" \
        FJMCP_DATABASE_URL="$DATABASE_URL" FJMCP_SECRET_KEY_FILE="$OUT/secret.key" \
        FJMCP_REPLICA_URL="http://127.0.0.1:$port" \
        FORGEJO_URL="$FORGEJO_URL" FORGEJO_CLIENT_ID="$CLIENT_ID" FORGEJO_CLIENT_SECRET="$CLIENT_SECRET" \
        FJMCP_CHILD_COMMAND="$OUT/echo-child" \
        FJMCP_RATE_LIMIT_SPAWN=off FJMCP_RATE_LIMIT_AUTHORIZE=off FJMCP_RATE_LIMIT_REGISTER=off FJMCP_RATE_LIMIT_TOKEN=off \
        FJMCP_MAX_SESSIONS=1000 FJMCP_MAX_SESSIONS_PER_USER=1000 \
        "$BIN/fjmcp-broker" serve >"$OUT/replica-$index.out" 2>"$OUT/replica-$index.err" &
    PIDS+=($!)
    REPLICA_PIDS+=($!)
    REPLICA_URLS+=("http://127.0.0.1:$port")
done
for url in "${REPLICA_URLS[@]}"; do
    wait_for "$url/healthz" 60
    # Ready means the store, the change listener and the first heartbeat (replica mode).
    for _ in $(seq 1 100); do [[ $(curl -s -o /dev/null -w '%{http_code}' "$url/readyz") == 200 ]] && break; sleep 0.1; done
done

echo "== a token (OAuth through replica 1) and a session whose child runs on replica 1"
$PY bench/oauth_token.py --broker "${REPLICA_URLS[0]}" --forgejo "$FORGEJO_URL" --user demo >"$OUT/tokens.json"
TOKEN=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['access_token'])" "$OUT/tokens.json")
SESSION=$($PY bench/replicas.py open --url "${REPLICA_URLS[0]}/mcp" --token "$TOKEN")
# Replica 2 answers for it (forwarded) before anything is measured: a stream of errors would look fast.
$PY bench/replicas.py call --url "${REPLICA_URLS[1]}/mcp" --token "$TOKEN" --session "$SESSION"

hop_metrics() { curl -s "${REPLICA_URLS[1]}/metrics" | grep -E '^fjmcp_replica_hop' || true; }
# That call must have travelled: a replica that served it itself ran a second child for the session.
if ! hop_metrics | grep -Eq '^fjmcp_replica_hops_total\{outcome="forwarded"\} [1-9]'; then
    echo "replica 2 did not forward the call to replica 1 (fjmcp_replica_hops_total): is replica mode in $BIN/fjmcp-broker?" >&2
    exit 1
fi

# run MODE LABEL URL CONCURRENCY: one wrk run (legacy: on the session; modern: 2026-07-28 requests
# on the user's child), its JSON line kept with the labels.
run() {
    local mode=$1 label=$2 url=$3 concurrency=$4 threads=2 sessions=""
    [[ $concurrency == 1 ]] && threads=1
    [[ $mode == legacy ]] && sessions=$SESSION
    MCP_MODE=$mode MCP_TOKENS=$TOKEN MCP_SESSIONS=$sessions \
        wrk -t"$threads" -c"$concurrency" -d"${RUN_SECONDS}s" --timeout 10s -s bench/wrk/mcp_call.lua "$url/mcp" \
        >"$OUT/wrk.txt" 2>&1 || { cat "$OUT/wrk.txt" >&2; return 1; }
    local json
    json=$(grep '^{"requests"' "$OUT/wrk.txt") || { cat "$OUT/wrk.txt" >&2; return 1; }
    echo "{\"mode\":\"$mode\",\"label\":\"$label\",\"concurrency\":$concurrency,\"wrk\":$json}" >>"$OUT/runs.jsonl"
}

# The user's shared child (2026-07-28 requests) starts on replica 1 too; replica 2 forwards to it.
# When that forward does not answer a result, the 2026-07-28 rows are left out and the report says why.
MODES=(legacy)
$PY bench/replicas.py call --modern --url "${REPLICA_URLS[0]}/mcp" --token "$TOKEN"
if $PY bench/replicas.py call --modern --url "${REPLICA_URLS[1]}/mcp" --token "$TOKEN" 2>"$OUT/modern-skipped.txt"; then
    MODES+=(modern)
    rm "$OUT/modern-skipped.txt"
else
    echo "2026-07-28 forwarding failed, its rows are left out: $(cat "$OUT/modern-skipped.txt")" >&2
fi

for mode in "${MODES[@]}"; do
    echo "== tools/call ($mode): local (replica 1 holds the child) and forwarded (sent to replica 2), ${RUN_SECONDS}s each"
    hop_metrics >"$OUT/hop-metrics-$mode-before.txt"
    for c in 1 50; do
        run "$mode" local "${REPLICA_URLS[0]}" "$c"
        run "$mode" forwarded "${REPLICA_URLS[1]}" "$c"
    done
    hop_metrics >"$OUT/hop-metrics-$mode-after.txt"
done

echo "== $IDLE idle sessions over $COUNT replicas, each called once locally and once forwarded"
sleep 2   # wrk's connections closed, nothing in flight
$PY bench/replicas.py idle --urls "$(IFS=,; echo "${REPLICA_URLS[*]}")" --pids "$(IFS=,; echo "${REPLICA_PIDS[*]}")" \
    --token "$TOKEN" --count "$IDLE" --json "$OUT/idle.json"

echo "== idle children alone (bench/child_memory.py, 20 copies each)"
$PY bench/child_memory.py --count 20 --label echo-child -- "$OUT/echo-child" >"$OUT/children.jsonl"
$PY bench/child_memory.py --count 20 --label demo-mcp-server -- "$BIN/demo-mcp-server" --no-forgejo-check >>"$OUT/children.jsonl"
if [[ -x .venv-gitea-mcp/bin/gitea-mcp ]]; then
    $PY bench/child_memory.py --count 20 --timeout 60 --label gitea-mcp --env GITEA_URL=http://127.0.0.1:9 --env GITEA_TOKEN=bench \
        --env FASTMCP_CHECK_FOR_UPDATES=off --env GITEA_MAX_RETRIES=0 -- .venv-gitea-mcp/bin/gitea-mcp >>"$OUT/children.jsonl"
else
    echo "(no .venv-gitea-mcp: scripts/e2e-setup.sh makes it; its row is left out)"
fi

sandbox=$(grep -h -o 'child sandbox[^"]*' "$OUT/replica-1.err" | head -1 || true)
$PY bench/replicas.py report --dir "$OUT" --replicas "$COUNT" --sandbox "${sandbox:-unknown}" ${REPLICAS_JSON:+--json "$REPLICAS_JSON"}
echo "per-run files and logs: $OUT/"
