#!/usr/bin/env bash
# Benchmarks sae against scripts/reference.py, the same autoencoder, loss, optimizer and batch size
# in plain PyTorch on the same LibTorch (Debian's python3-torch). For every thread count and round
# it trains one epoch with each (sae first, then the reference, so slow drift in the machine's
# speed hits both alike) under GNU time, and times the GEMM-only bound (build/sae_gemm_bound: the
# step's matrix products alone). It reports medians over the rounds as two Markdown tables under a
# header naming the CPU, its vector extensions and the kernels OpenBLAS picked for the reference:
# training images/s (the training loop only) with sae's fraction of the bound, test-set evaluation
# images/s, and the whole process (`train --epochs 1` from start to exit, wall seconds) with its
# peak RSS. Run with -h for usage.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # PYTHON

usage() {
  cat <<EOF
Usage: $(basename "$0") [--data-dir DIR] [--rounds N] [--threads "T1 T2 ..."] [--reference-blas CORE]
                [--codes "KIND ..."]

  --data-dir DIR   MNIST-format IDX files (default: data/fashion-mnist; data/mnist for a quick check);
                   a relative DIR is looked up in the current folder, then in the repository root
  --rounds N       epochs timed per program and thread count; the table shows medians (default: 3)
  --threads LIST   space-separated CPU thread counts (default: "1 2")
  --reference-blas CORE
                   run the reference with OPENBLAS_CORETYPE=CORE (e.g. SkylakeX, Haswell): OpenBLAS
                   0.3.21 takes its SSE3 "Prescott" kernels on CPUs newer than it knows, which slows
                   the reference's transposed convolutions; this shows the reference at its best
  --codes LIST     also train sae with each of these kinds of code (--code, their defaults) and
                   report each one's training images/s against the default sigmoid/KL code's
                   (default: "relu topk batchtopk jumprelu"; "" for none)

Needs build/sae (scripts/build.sh), \$PYTHON (default /usr/bin/python3) with torch
(apt-get install python3-torch) and the data (scripts/fetch-data.sh fashion-mnist).
EOF
}

die() { echo "bench: ERROR: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# The exact command, as typed, for the report header (before the arguments are consumed).
COMMAND="scripts/bench.sh"
for arg in "$@"; do COMMAND+=" $(printf '%q' "$arg")"; done

DATA_DIR="data/fashion-mnist"
ROUNDS=3
THREADS="1 2"
REFERENCE_BLAS=""
CODES="relu topk batchtopk jumprelu"
while (($#)); do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a folder}"; shift 2 ;;
    --rounds)   ROUNDS="${2:?--rounds needs a number}"; shift 2 ;;
    --threads)  THREADS="${2:?--threads needs a list}"; shift 2 ;;
    --reference-blas) REFERENCE_BLAS="${2:?--reference-blas needs an OpenBLAS core name}"; shift 2 ;;
    --codes)    CODES="$2"; shift 2 ;;
    -h|--help)  usage; exit 0 ;;
    *)          usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, got '$ROUNDS'"
for t in $THREADS; do
  [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "--threads takes positive integers, got '$t'"
done
[[ -n "${THREADS// /}" ]] || die "--threads is empty"

# A relative --data-dir that exists where the script was called from is taken from there;
# otherwise it is meant from the repository root, where everything else runs.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$DATA_DIR" != /* && -d "$DATA_DIR" && "$PWD" != "$REPO_ROOT" ]]; then
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
fi
cd "$REPO_ROOT"

SAE=build/sae
GEMM_BOUND=build/sae_gemm_bound
GNU_TIME=/usr/bin/time   # the shell keyword `time` has no -v (peak RSS)

check_requirements() {
  [[ -x "$SAE" ]] || die "$SAE not found; build it with scripts/build.sh"
  [[ -x "$GEMM_BOUND" ]] || die "$GEMM_BOUND not found; build it with scripts/build.sh"
  [[ -x "$GNU_TIME" ]] || die "$GNU_TIME (GNU time) not found; apt-get install time"
  if ! { [[ -x "$PYTHON" ]] && "$PYTHON" -c 'import torch' 2>/dev/null; }; then
    die "$PYTHON cannot import torch; apt-get install python3-torch"
  fi
  local stem
  for stem in train-images-idx3-ubyte t10k-images-idx3-ubyte; do
    [[ -f "$DATA_DIR/$stem.gz" || -f "$DATA_DIR/$stem" ]] ||
      die "$DATA_DIR/$stem(.gz) missing; run scripts/fetch-data.sh fashion-mnist (or mnist)"
  done
}

# Peak resident set size, in MiB, from a `time -v` report (which gives KiB).
peak_rss_mib() {
  awk -F': *' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"
}

# Wall-clock seconds from a `time -v` report ("h:mm:ss" or "m:ss.ss").
wall_seconds() {
  awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, part, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + part[i]; printf "%.2f", s }' "$1"
}

# One field of a JSON object stored in a file.
json_field() {
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# One column, by name, of the last row of a CSV file (sae's metrics.csv: the last epoch).
csv_field() {
  awk -F, -v name="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) col = i; next }
    { value = $col }
    END { if (!col) exit 1; print value }' "$1"
}

# Runs "$@" under GNU time, its output in $WORK/LABEL.{out,err,time}; on failure shows why and stops.
timed() {
  local label="$1"; shift
  if ! "$GNU_TIME" -v -o "$WORK/$label.time" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err"; then
    tail -n 20 "$WORK/$label.err" >&2
    die "failed: $*"
  fi
}

# Appends one line "threads program train_img_s eval_img_s rss_mib test_mse wall_s" to $RESULTS;
# program is "sae", or "sae-KIND" with a second argument KIND, trained with --code KIND.
bench_sae() {
  local threads="$1" code="${2:-}" run="$WORK/sae-run" program="sae" code_args=()
  if [[ -n "$code" ]]; then program="sae-$code"; code_args=(--code "$code"); fi
  timed sae-train "$SAE" train --epochs 1 --threads "$threads" --data-dir "$DATA_DIR" \
    --out "$run" --force --quiet "${code_args[@]}"
  # Evaluation is timed by sae itself; this run's RSS is not what the table reports.
  "$SAE" eval --checkpoint "$run/model.pt" --json --no-probe --threads "$threads" >"$WORK/sae-eval.json" ||
    die "sae eval failed"
  local train eval rss mse
  train=$(csv_field "$run/metrics.csv" images_per_s) || die "no images_per_s in $run/metrics.csv"
  mse=$(csv_field "$run/metrics.csv" test_mse) || die "no test_mse in $run/metrics.csv"
  eval=$(json_field "$WORK/sae-eval.json" images_per_s)
  rss=$(peak_rss_mib "$WORK/sae-train.time")
  echo "$threads $program $train $eval $rss $mse $(wall_seconds "$WORK/sae-train.time")" >>"$RESULTS"
  log "threads $threads  $program        train $(printf '%.0f' "$train") img/s  eval $(printf '%.0f' "$eval") img/s  RSS $rss MiB  test mse $mse"
}

bench_reference() {
  local threads="$1"
  timed reference env ${REFERENCE_BLAS:+OPENBLAS_CORETYPE="$REFERENCE_BLAS"} \
    "$PYTHON" scripts/reference.py --epochs 1 --threads "$threads" --data-dir "$DATA_DIR"
  tail -n 1 "$WORK/reference.out" >"$WORK/reference.json"  # the JSON is its last stdout line
  local train eval rss mse
  train=$(json_field "$WORK/reference.json" train_images_per_s)
  eval=$(json_field "$WORK/reference.json" eval_images_per_s)
  mse=$(json_field "$WORK/reference.json" test_mse)
  rss=$(peak_rss_mib "$WORK/reference.time")
  echo "$threads reference $train $eval $rss $mse $(wall_seconds "$WORK/reference.time")" >>"$RESULTS"
  log "threads $threads  reference  train $(printf '%.0f' "$train") img/s  eval $(printf '%.0f' "$eval") img/s  RSS $rss MiB  test mse $mse"
}

# The GEMM-only bound: "threads bound img/s flop_per_image" into $RESULTS.
bench_bound() {
  local threads="$1"
  "$GEMM_BOUND" --threads "$threads" --batch 100 >"$WORK/bound.json" || die "$GEMM_BOUND failed"
  local bound
  bound=$(json_field "$WORK/bound.json" images_per_s)
  echo "$threads bound $bound $(json_field "$WORK/bound.json" flop_per_image)" >>"$RESULTS"
  log "threads $threads  GEMM-only bound $(printf '%.0f' "$bound") img/s"
}

# Median of one column (3: train, 4: eval, 5: RSS, 6: test mse, 7: wall s; 3 and 4, FLOP per
# image, for the bound) for one thread count and program.
median() {
  local threads="$1" program="$2" column="$3"
  awk -v t="$threads" -v p="$program" -v c="$column" '$1 == t && $2 == p { print $c }' "$RESULTS" |
    sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

print_report() {
  local cpu torch_version flags blas_core
  cpu=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')
  [[ -n "$cpu" ]] || cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  # The extensions that decide which kernels oneDNN and OpenBLAS run.
  flags=$(grep -m1 -ow -E 'sse4_2|avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|amx_tile' \
    /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
  blas_core=$(env ${REFERENCE_BLAS:+OPENBLAS_CORETYPE="$REFERENCE_BLAS"} OPENBLAS_VERBOSE=2 \
    "$PYTHON" -c 'import torch' 2>&1 | awk '/^Core:/ { print $2; exit }')
  torch_version=$("$PYTHON" -c 'import torch; print(torch.__version__)')
  # A logical CPU's FP32 peak: FMA units x lanes x 2 FLOP a cycle, at the highest clock lscpu
  # knows (else the one /proc/cpuinfo reports now). Two FMA units are assumed (the flags cannot
  # tell a one-unit AVX-512 part), and each thread is taken for a core of its own.
  local per_cycle=8 mhz
  case " $flags " in
    *" avx512f "*) per_cycle=64 ;;
    *" fma "*) per_cycle=32 ;;
    *" avx "*) per_cycle=16 ;;
  esac
  mhz=$(lscpu 2>/dev/null | awk -F': *' '/^CPU max MHz/ { print $2; exit }')
  [[ -n "$mhz" ]] || mhz=$(awk -F': *' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
  echo
  echo "Machine: ${cpu:-unknown CPU} (family $(awk -F': *' '/^cpu family/ { print $2; exit }' /proc/cpuinfo)," \
    "model $(awk -F': *' '/^model[[:space:]]*:/ { print $2; exit }' /proc/cpuinfo)), nproc $(nproc);" \
    "flags: ${flags:-?}; OpenBLAS kernels (the reference's): ${blas_core:-?}; LibTorch $torch_version;" \
    "$(date -u '+%Y-%m-%d %H:%M UTC'); command: \`$COMMAND\` (data $DATA_DIR, medians over $ROUNDS round(s))"
  echo
  echo "FLOP peak: $per_cycle FP32 FLOP a cycle a core at ${mhz:-?} MHz; a training step's products: $(median "${THREADS%% *}" bound 4) FLOP an image."
  echo
  echo "| threads | sae train img/s | reference train img/s | ratio | GEMM-only bound img/s | sae / bound | sae / FLOP peak | bound / FLOP peak | sae eval img/s | reference eval img/s | eval ratio |"
  echo "|--------:|----------------:|----------------------:|------:|----------------------:|------------:|----------------:|------------------:|---------------:|---------------------:|-----------:|"
  local t
  for t in $THREADS; do
    local st rt bound flop se re
    st=$(median "$t" sae 3);  rt=$(median "$t" reference 3); bound=$(median "$t" bound 3)
    flop=$(median "$t" bound 4); se=$(median "$t" sae 4);  re=$(median "$t" reference 4)
    awk -v t="$t" -v st="$st" -v rt="$rt" -v b="$bound" -v f="$flop" -v pc="$per_cycle" \
        -v mhz="${mhz:-0}" -v se="$se" -v re="$re" 'BEGIN {
        peak = t * pc * mhz * 1e6
        sae_peak = "?"; bound_peak = "?"
        if (peak > 0) {
          sae_peak = sprintf("%.0f%%", 100 * st * f / peak)
          bound_peak = sprintf("%.0f%%", 100 * b * f / peak)
        }
        printf "| %d | %.0f | %.0f | %.2f | %.0f | %.0f%% | %s | %s | %.0f | %.0f | %.2f |\n",
          t, st, rt, st / rt, b, 100 * st / b, sae_peak, bound_peak, se, re, se / re }'
  done
  echo
  echo "| threads | sae whole run s | reference whole run s | reference / sae | sae peak RSS MiB | reference peak RSS MiB | sae test MSE | reference test MSE |"
  echo "|--------:|----------------:|----------------------:|----------------:|-----------------:|-----------------------:|-------------:|-------------------:|"
  for t in $THREADS; do
    local sw rw sm rm smse rmse
    sw=$(median "$t" sae 7);  rw=$(median "$t" reference 7)
    sm=$(median "$t" sae 5);  rm=$(median "$t" reference 5)
    smse=$(median "$t" sae 6); rmse=$(median "$t" reference 6)
    awk -v t="$t" -v sw="$sw" -v rw="$rw" -v sm="$sm" -v rm="$rm" -v smse="$smse" -v rmse="$rmse" 'BEGIN {
        printf "| %d | %.2f | %.2f | %.2f | %.0f | %.0f | %.5f | %.5f |\n",
          t, sw, rw, rw / sw, sm, rm, smse, rmse }'
  done
  [[ -n "${CODES// /}" ]] || return 0
  echo
  echo "| threads | code | sae train img/s | / sigmoid (KL) |"
  echo "|--------:|:-----|----------------:|---------------:|"
  for t in $THREADS; do
    local base code st
    base=$(median "$t" sae 3)
    for code in $CODES; do
      st=$(median "$t" "sae-$code" 3)
      awk -v t="$t" -v c="$code" -v st="$st" -v b="$base" 'BEGIN {
          printf "| %d | %s | %.0f | %.2f |\n", t, c, st, st / b }'
    done
  done
}

main() {
  check_requirements
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  RESULTS="$WORK/results.txt"
  : >"$RESULTS"
  local t r code
  for t in $THREADS; do
    for ((r = 1; r <= ROUNDS; r++)); do
      log "threads $t, round $r/$ROUNDS"
      bench_sae "$t"
      for code in $CODES; do bench_sae "$t" "$code"; done
      bench_reference "$t"
      bench_bound "$t"
    done
  done
  print_report
}

main
