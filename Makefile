.PHONY: build test run check-config clean-data

build:
	swift build

## Runs every test (what CI runs).
test:
	scripts/test.sh

## Runs the broker on loopback with the embedded SQLite store in ./data.
run: build
	.build/debug/fjmcp-broker serve

clean-data:
	rm -rf ./data
