#!/bin/bash
# Trains the runs README shows (or reuses the finished ones) and copies their pictures and tables
# into docs/: scripts/docs-pictures.sh. Needs data/mnist and data/fashion-mnist (fetch-data.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
S=build/sae
time $S train --config configs/mnist.toml --out runs/mnist --force --threads 2
for f in loss reconstructions units activations atoms top; do cp runs/mnist/$f.png docs/mnist-$f.png; done
cp runs/mnist/metrics.csv docs/mnist-metrics.csv
$S eval --checkpoint runs/mnist --json > /tmp/mnist-eval.json
time $S sweep --beta 0,0.001,0.005,0.02 --rho 0.01,0.05,0.1 --epochs 10 --out runs/sweep
cp runs/sweep/sweep.png docs/mnist-sweep.png; cp runs/sweep/sweep.csv docs/mnist-sweep.csv
time $S sweep --code sigmoid,topk,batchtopk,jumprelu --beta 0.001,0.005 --rho 0.01,0.05,0.1 \
  --k 4,8,16,32 --l0-coef 0.001,0.01,0.1 --epochs 10 --jobs 2 --out runs/frontier-mnist
cp runs/frontier-mnist/sweep.png docs/mnist-frontier.png
if diff -q <(cut -d, -f1-14 runs/frontier-mnist/sweep.csv) <(cut -d, -f1-14 docs/mnist-frontier.csv) >/dev/null; then echo "frontier-mnist: the same numbers as docs/"; else echo "frontier-mnist: the numbers changed"; fi
cp runs/frontier-mnist/sweep.csv docs/mnist-frontier.csv
time $S sweep --code sigmoid,topk,batchtopk,jumprelu --beta 0.001,0.005 --rho 0.05 --k 8,16,32 \
  --epochs 10 --jobs 2 --data-dir data/fashion-mnist --out runs/frontier-fashion
cp runs/frontier-fashion/sweep.png docs/fashion-frontier.png
if diff -q <(cut -d, -f1-14 runs/frontier-fashion/sweep.csv) <(cut -d, -f1-14 docs/fashion-frontier.csv) >/dev/null; then echo "frontier-fashion: the same numbers as docs/"; else echo "frontier-fashion: the numbers changed"; fi
cp runs/frontier-fashion/sweep.csv docs/fashion-frontier.csv
timeout 60 chromium-headless-shell --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2400 \
  --screenshot=docs/report-run.png "file://$PWD/runs/mnist/report.html#sort=rho" 2>/dev/null
timeout 60 chromium-headless-shell --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1400 \
  --screenshot=docs/report-sweep.png "file://$PWD/runs/sweep/index.html" 2>/dev/null
echo "docs/ pictures and tables written"
