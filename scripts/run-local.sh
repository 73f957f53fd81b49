#!/usr/bin/env bash
# Starts the bundled fake Forgejo and the broker in front of it, on loopback, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build
bin=.build/debug
broker_port=${BROKER_PORT:-8080}
forgejo_port=${FORGEJO_PORT:-3000}
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

"$bin/fake-forgejo" --listen "127.0.0.1:$forgejo_port" --user demo:demo \
  --app "fjmcp-local:$secret:http://127.0.0.1:$broker_port/oauth/callback" &
forgejo_pid=$!
trap 'kill $forgejo_pid 2>/dev/null || true' EXIT

echo "fake Forgejo on http://127.0.0.1:$forgejo_port (login demo / demo)"
echo "MCP endpoint:   http://127.0.0.1:$broker_port/mcp"
FJMCP_PUBLIC_URL="http://127.0.0.1:$broker_port" \
FJMCP_LISTEN="127.0.0.1:$broker_port" \
FORGEJO_URL="http://127.0.0.1:$forgejo_port" \
FORGEJO_CLIENT_ID=fjmcp-local FORGEJO_CLIENT_SECRET="$secret" \
FJMCP_CHILD_COMMAND="$PWD/$bin/demo-mcp-server" \
  "$bin/fjmcp-broker" serve
