#!/usr/bin/env bash
# The one command that runs every test: unit and integration tests (loopback HTTP, real child
# processes, the built binaries), then the end-to-end suite (the binaries driven by the official
# Python MCP SDK clients, directly and behind Caddy). CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build "$@"
E2E_SKIP_BUILD=1 scripts/e2e.sh
