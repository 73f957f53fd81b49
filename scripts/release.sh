#!/usr/bin/env bash
# `make release`: a static-stdlib release build of the broker and the demo child, packed with their
# SHA-256 sums into dist/fjmcp-broker-<version>-linux-<arch>.tar.gz (plus a .sha256 of the
# tarball). The binaries link the Swift runtime statically (--static-swift-stdlib), so they run on
# a Linux machine without the Swift toolchain; they still need glibc, libstdc++ and zlib, and
# libsqlite3 (fjmcp-broker's store) or libcurl (demo-mcp-server's FoundationNetworking).
#
# Builds in its own scratch path (.build-release, shared with bench/run.sh) so it never
# invalidates the debug build in .build. Not part of `make test`: CI would build twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# Static linking needs the link-time libraries of what the Swift runtime does not carry:
# libsqlite3 (the store) and libcurl (FoundationNetworking, which the demo child uses).
need_apt=()
for package in libsqlite3-dev libcurl4-openssl-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || need_apt+=("$package")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "release: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

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
for product in "${PRODUCTS[@]}"; do
  if ldd "$stage/$name/$product" | grep -E 'libswift|libFoundation|lib_FoundationICU|libdispatch|libBlocksRuntime' >&2; then
    echo "release: $product links Swift runtime libraries dynamically (above)" >&2
    exit 1
  fi
done
"$stage/$name/fjmcp-broker" version

mkdir -p "$DIST"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$DIST/$name.tar.gz" "$name"
(cd "$DIST" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "release: $DIST/$name.tar.gz"
cat "$DIST/$name.tar.gz.sha256"
