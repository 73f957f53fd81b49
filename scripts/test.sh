#!/usr/bin/env bash
# The one command that runs every test: unit, integration (loopback HTTP, real child processes)
# and the binary-level checks. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build "$@"
