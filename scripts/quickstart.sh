#!/usr/bin/env bash
# README's main command: installs what is missing, builds, fetches MNIST and trains with the original model's
# hyperparameters (configs/mnist.toml). Extra arguments go to `sae train`, e.g. --epochs 2.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --data
scripts/build.sh --target sae  # the tests are scripts/test.sh's
scripts/fetch-data.sh mnist
build/sae train --config configs/mnist.toml "$@"
