#!/usr/bin/env bash
# Training speed on an idle machine and with one core kept busy by another process, for
# --threads 1, --threads 2 and the default (--threads 0: one per core that is idle at start).
# Prints one row per case: img/s of the second epoch, or "> LIMIT s" when it did not finish.
# Usage: scripts/contention.sh [DATA_DIR]   (default data/mnist; needs a build)
set -euo pipefail
cd "$(dirname "$0")/.."

data="${1:-data/mnist}"
limit=120
out="$(mktemp -d)"
trap 'rm -rf "$out"; [[ -n "${busy:-}" ]] && kill "$busy" 2>/dev/null || true' EXIT

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; data $data"
echo "| machine | threads | img/s (epoch 2) |"
echo "|---|---|---|"
for machine in idle "one core busy"; do
  if [[ "$machine" != idle ]]; then
    yes > /dev/null &
    busy=$!
  fi
  for threads in 1 2 0; do
    log="$out/log"
    if timeout "$limit" build/sae train --data-dir "$data" --out "$out/run" --force --epochs 2 \
        --threads "$threads" > "$log" 2>&1; then
      speed="$(grep -o 'epoch 2/2.*' "$log" | grep -o '[0-9]* img/s')"
    else
      speed="> $limit s for 2 epochs"
    fi
    label="$threads"
    [[ "$threads" == 0 ]] && label="default (0)"
    echo "| $machine | $label | $speed |"
  done
done
