#!/usr/bin/env bash
# libFuzzer targets (Fuzz/<target>/main.swift) over the NIO-free BrokerWire module, built with
# swiftc directly into .build-fuzz (no SwiftPM, no NIO/Hummingbird/GRDB: seconds, not minutes).
# See docs/fuzzing.md.
#
#   scripts/fuzz.sh                    build, then fuzz every target FUZZ_SECONDS (300) each
#   scripts/fuzz.sh --short            build, then 10 s per target (the stage in scripts/test.sh)
#   scripts/fuzz.sh --build-only       build only
#   scripts/fuzz.sh [--short] T1 T2    only these targets (directory names under Fuzz/)
#
#   FUZZ_SECONDS=N      time per target for the long run
#   FUZZ_SANITIZERS     default fuzzer,address (AddressSanitizer on; `fuzzer` alone is ~2x faster)
#   FUZZ_JOBS=N         libFuzzer -fork=N for the long run (parallel workers)
#
# Seeds are committed under Fuzz/corpus/<target>/; what a run discovers goes to
# .build-fuzz/corpus/<target>/ (merge worthwhile inputs back with -merge=1, see docs/fuzzing.md).
# A crash or a broken invariant stops that target, leaves the input in .build-fuzz/crashes/ and
# makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=.build-fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-300}
BUILD_ONLY=0
targets=()
for arg in "$@"; do
    case $arg in
        --short) SECONDS_PER_TARGET=10 ;;
        --build-only) BUILD_ONLY=1 ;;
        -*) echo "fuzz: unknown option $arg" >&2; exit 2 ;;
        *) targets+=("$arg") ;;
    esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
    for dir in Fuzz/*/main.swift; do targets+=("$(basename "$(dirname "$dir")")"); done
fi
if [[ $(uname -s) != Linux ]]; then
    echo "fuzz: skipped: -sanitize=fuzzer needs the Linux Swift toolchain (libFuzzer is not in Xcode's)"
    exit 0
fi

SAN=${FUZZ_SANITIZERS:-fuzzer,address}
FLAGS=(-O -g -sanitize="$SAN" -parse-as-library -swift-version 6 -enable-upcoming-feature ExistentialAny
       -package-name forgejo_mcp_broker)
mkdir -p "$OUT/bin" "$OUT/crashes"

# The module is rebuilt when its file list changed or a source is newer than it, each target
# when it or the module is.
mapfile -t wire_sources < <(find Sources/BrokerWire -name '*.swift' | sort)
newer() { [[ ! -e $1 ]] || [[ -n $(find "${@:2}" -newer "$1" -print -quit) ]]; }
start=$SECONDS
if newer "$OUT/BrokerWire.o" "${wire_sources[@]}" scripts/fuzz.sh \
    || [[ $(printf '%s\n' "${wire_sources[@]}") != $(cat "$OUT/BrokerWire.sources" 2>/dev/null) ]]; then
    echo "fuzz: building BrokerWire ($SAN)"
    swiftc "${FLAGS[@]}" -module-name BrokerWire -enable-testing -wmo -emit-module \
        -emit-module-path "$OUT/BrokerWire.swiftmodule" -c -o "$OUT/BrokerWire.o" "${wire_sources[@]}"
    printf '%s\n' "${wire_sources[@]}" >"$OUT/BrokerWire.sources"
fi
for target in "${targets[@]}"; do
    [[ -f Fuzz/$target/main.swift ]] || { echo "fuzz: no target Fuzz/$target/main.swift" >&2; exit 2; }
    if newer "$OUT/bin/$target" "Fuzz/$target" Fuzz/Support "$OUT/BrokerWire.o"; then
        echo "fuzz: building $target"
        swiftc "${FLAGS[@]}" -module-name "Fuzz_${target//-/_}" -I "$OUT" -use-ld=lld \
            Fuzz/Support/*.swift "Fuzz/$target/main.swift" "$OUT/BrokerWire.o" -o "$OUT/bin/$target"
    fi
done
echo "fuzz: built in $((SECONDS - start)) s"
[[ $BUILD_ONLY == 1 ]] && exit 0

status=0
for target in "${targets[@]}"; do
    mkdir -p "$OUT/corpus/$target" "Fuzz/corpus/$target"
    options=(-max_total_time="$SECONDS_PER_TARGET" -max_len=8192 -timeout=10 -rss_limit_mb=2048
             -artifact_prefix="$OUT/crashes/$target-" -print_final_stats=1)
    [[ -f Fuzz/$target/dictionary ]] && options+=(-dict="Fuzz/$target/dictionary")
    [[ -n ${FUZZ_JOBS:-} ]] && options+=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
    log=$OUT/$target.log
    echo "fuzz: $target for ${SECONDS_PER_TARGET} s"
    # New inputs go to the first corpus directory: the scratch one, never the committed seeds.
    # The Swift runtime's backtracer reads the stack in a way AddressSanitizer reports; libFuzzer
    # prints the stack of a trap itself.
    if ! SWIFT_BACKTRACE=enable=no "$OUT/bin/$target" "${options[@]}" "$OUT/corpus/$target" "Fuzz/corpus/$target" >"$log" 2>&1; then
        status=1
        echo "fuzz: $target FAILED (input in $OUT/crashes/, log $log):" >&2
        grep -E -A12 'ERROR|Fatal error|fuzz invariant' "$log" | head -30 >&2 || tail -30 "$log" >&2
        continue
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
    echo "fuzz: $target ok: ${runs:-?} runs, ${rate:-?} exec/s, ${coverage:-?}, ${corpus:-?}"
done
exit $status
