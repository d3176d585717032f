#!/usr/bin/env bash
# Configures and builds sae (Release) into $BUILD_DIR (default: build).
#   scripts/build.sh [--target NAME]... [CMAKE_ARGS...]
# --target builds only that target (e.g. sae, without the tests); the other arguments go to cmake,
# e.g. -DCMAKE_PREFIX_PATH=... to build against another LibTorch. SAE_PCH=OFF in the environment
# turns the precompiled header off (CMakeLists.txt says when that pays).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
targets=()
cmake_args=()
while (($# > 0)); do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) cmake_args+=("$1"); shift ;;
  esac
done
[[ -n "${SAE_PCH:-}" ]] && cmake_args+=("-DSAE_PCH=$SAE_PCH")
generator=()
if command -v ninja >/dev/null 2>&1 && [[ ! -f "$BUILD_DIR/Makefile" ]]; then generator=(-G Ninja); fi
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
