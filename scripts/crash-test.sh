#!/usr/bin/env bash
# Crash safety at length: SIGKILL or two SIGINTs in a row at random moments of a training run,
# or SIGKILL right between two file writes of a commit, over N trials (default 45; the test suite
# runs 6). Every trial must resume to exactly the weights and metrics of the uninterrupted run,
# and every committed checkpoint must verify. Needs a build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

trials="${1:-45}"
SAE_CRASH_TRIALS="$trials" "${BUILD_DIR:-build}/sae_e2e_tests" --gtest_filter='CrashSafety.*'
