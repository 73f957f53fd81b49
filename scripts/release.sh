#!/usr/bin/env bash
# `make release`: a static-stdlib release build of the broker and the demo child, packed with their
# SHA-256 sums into dist/fjmcp-broker-<version>-linux-<arch>.tar.gz (plus a .sha256 of the
# tarball). The binaries link the Swift runtime statically (--static-swift-stdlib), so they run on
# a Linux machine without the Swift toolchain; they still need glibc and libsqlite3 (the store).
#
# Builds in its own scratch path (.build-release, shared with bench/run.sh) so it never
# invalidates the debug build in .build. Not part of `make test`: CI would build twice.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${RELEASE_SCRATCH_PATH:-.build-release}
DIST=${RELEASE_DIST:-dist}
PRODUCTS=(fjmcp-broker demo-mcp-server)
flags=(-c release --static-swift-stdlib --scratch-path "$SCRATCH")

for product in "${PRODUCTS[@]}"; do
  echo "release: building $product (swift build ${flags[*]})"
  swift build "${flags[@]}" --product "$product"
done
bin="$(swift build "${flags[@]}" --show-bin-path)"

version="$("$bin/fjmcp-broker" version | awk '{print $2}')"
arch="$(uname -m)"
name="fjmcp-broker-${version}-linux-${arch}"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
for product in "${PRODUCTS[@]}"; do
  install -m 0755 "$bin/$product" "$stage/$name/$product"
  strip "$stage/$name/$product"
done
cp LICENSE README.md "$stage/$name/"
(cd "$stage/$name" && sha256sum "${PRODUCTS[@]}" LICENSE README.md >SHA256SUMS)

# The binaries must not need the toolchain's Swift runtime libraries.
if ldd "$stage/$name/fjmcp-broker" | grep -E 'libswift|libFoundation|lib_FoundationICU|libdispatch' >&2; then
  echo "release: fjmcp-broker links Swift runtime libraries dynamically (above)" >&2
  exit 1
fi
"$stage/$name/fjmcp-broker" version

mkdir -p "$DIST"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$DIST/$name.tar.gz" "$name"
(cd "$DIST" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "release: $DIST/$name.tar.gz"
cat "$DIST/$name.tar.gz.sha256"
