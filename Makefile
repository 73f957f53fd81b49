.PHONY: build test run check-config clean-data

build:
	swift build

## Runs every test (what CI runs).
test:
	scripts/test.sh

## Runs the broker on loopback (data in ./data) in front of the bundled fake Forgejo.
run:
	scripts/run-local.sh

clean-data:
	rm -rf ./data
