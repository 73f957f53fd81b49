.PHONY: build test run check-config clean-data release

build:
	swift build

## Runs every test (what CI runs).
test:
	scripts/test.sh

## The demo: broker + built-in fake Forgejo + demo MCP child on loopback, until Ctrl-C.
run:
	scripts/bootstrap.sh
	swift build
	.build/debug/fjmcp-broker demo

clean-data:
	rm -rf ./data

## Benchmarks (bench/README.md): release build into .build-release, direct stdio vs broker vs mcp-proxy, scale, auth path.
.PHONY: bench
bench:
	bench/run.sh

## Replicas (bench/README.md, "Replicas"): the forwarding hop's cost and the idle sessions 3 replicas
## hold, on a throwaway PostgreSQL; release binaries from .build-release (or REPLICAS_BIN).
.PHONY: bench-replicas
bench-replicas:
	bench/replicas.sh

## Release tarball (static Swift runtime): dist/fjmcp-broker-<version>-linux-<arch>.tar.gz with
## fjmcp-broker, demo-mcp-server and SHA256SUMS. Builds into .build-release. Not part of `make test`.
release:
	scripts/release.sh
