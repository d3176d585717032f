#!/usr/bin/env bash
# Configures and builds sae (Release) into $BUILD_DIR (default: build). Extra arguments go to cmake,
# e.g. -DCMAKE_PREFIX_PATH=... to build against another LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
generator=()
if command -v ninja >/dev/null 2>&1 && [[ ! -f "$BUILD_DIR/Makefile" ]]; then generator=(-G Ninja); fi
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
