#!/usr/bin/env bash
# Builds sae's Debian package, $BUILD_DIR/sae_VERSION_ARCH.deb (CPack's DEB generator; its Depends
# come from dpkg-shlibdeps), and copies it into DEST when one is given.
#   scripts/package.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
scripts/install-deps.sh --package
scripts/build.sh
(cd "$BUILD_DIR" && cpack -G DEB)
deb="$(ls -t "$BUILD_DIR"/sae_*.deb | head -n 1)"
dpkg-deb --field "$deb" Package Version Depends Recommends
if [[ -n "${1:-}" ]]; then
  mkdir -p "$1"
  cp "$deb" "$1/"
fi
echo "package: $deb"
