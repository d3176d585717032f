#!/usr/bin/env bash
# Builds the libFuzzer targets of the IDX and NPY readers with clang (AddressSanitizer + UBSan) and
# runs each for a bounded time: scripts/fuzz.sh [SECONDS] (default 300, each). Crashes land in
# build-fuzz/.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # as_root
cd "$(dirname "$0")/.."

SECONDS_TO_RUN="${1:-300}"
OUT=build-fuzz
if ! command -v clang++ >/dev/null 2>&1 || [[ ! -d /usr/lib/llvm-14/lib/clang ]]; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq clang libclang-rt-14-dev zlib1g-dev libfmt-dev
fi
mkdir -p "$OUT/corpus" "$OUT/corpus-npy"
FLAGS=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude)
clang++ "${FLAGS[@]}" fuzz/fuzz_idx.cpp src/data/idx_file.cpp -lz -lfmt -o "$OUT/fuzz_idx"
clang++ "${FLAGS[@]}" fuzz/fuzz_npy.cpp src/data/npy_file.cpp -lfmt -o "$OUT/fuzz_npy"
# New inputs go to $OUT/corpus*; the committed seeds in fuzz/corpus* are only read.
"$OUT/fuzz_idx" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$OUT/" "$OUT/corpus" fuzz/corpus
"$OUT/fuzz_npy" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$OUT/npy-" "$OUT/corpus-npy" fuzz/corpus-npy
