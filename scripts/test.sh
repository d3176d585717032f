#!/usr/bin/env bash
# README's test command: installs what is missing, builds, runs the whole test suite, unit and
# end-to-end tests at once; CTest's "Label Time Summary" at the end gives each label's time, summed
# over its shards. The unit tests alone: ctest --test-dir build -L unit (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
