#!/usr/bin/env bash
# On a machine with a CUDA GPU and pip's CUDA torch: builds sae against that LibTorch, runs the
# whole test suite with the CUDA tests on, trains 10 epochs of configs/fashion-mnist.toml
# on the GPU, evaluates the checkpoint on the GPU and on the CPU (mse and kl must agree within
# 1e-4), and prints training images/s on the GPU beside the CPU's.
#
#   scripts/gpu-check.sh [DEPS_PREFIX]
#
# DEPS_PREFIX (default: .gpu-deps) holds Debian's -dev packages unpacked with `dpkg -x`, for
# machines that have CMake, nvcc and torch but none of our libraries; make it on a Debian 12
# machine with scripts/gpu-deps.sh. Data: data/fashion-mnist (scripts/fetch-data.sh fashion-mnist).
set -euo pipefail
# Unlike the other scripts, this one wants the python3 on PATH by default: the one with pip's CUDA
# torch on a GPU machine, not Debian's CPU-only python3-torch. common.sh keeps a PYTHON already set.
PYTHON="${PYTHON:-python3}"
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "$0")/.."

DEPS="$(realpath -m "${1:-.gpu-deps}")"
BUILD=build-cuda
RUN=runs/gpu-check

TORCH_PREFIX="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "torch sees no GPU"; print("torch", torch.__version__, "CUDA", torch.version.cuda, "on", torch.cuda.get_device_name(0), "cxx11 abi", torch._C._GLIBCXX_USE_CXX11_ABI)'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu:$DEPS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DEPS"  # plplot.pc names /usr/include/plplot: read it inside DEPS

# PLplot looks for its drivers and data where Debian installs them unless told otherwise. Its cairo
# driver needs cairo, pango and fonts: link in from DEPS/bundle only the libraries this machine
# lacks (ldd again after each round, for what the borrowed ones need in turn).
drivers="$DEPS/usr/lib/x86_64-linux-gnu/plplot5.15.0/drivers"
export PLPLOT_DRV_DIR="$drivers" PLPLOT_LIB="$DEPS/usr/share/plplot5.15.0"
borrowed="$DEPS/borrowed"
mkdir -p "$borrowed"
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$borrowed"
for _ in 1 2 3 4 5 6 7 8; do
  missing="$(ldd "$drivers/cairo.so" | awk '/not found/ {print $1}' | sort -u)"
  [[ -z "$missing" ]] && break
  for lib in $missing; do
    found="$(find "$DEPS/bundle" -name "$lib" | head -n 1)"
    if [[ -n "$found" ]]; then ln -sf "$found" "$borrowed/$lib"; else echo "cairo driver: $lib missing, not bundled"; fi
  done
done
echo "borrowed for the cairo driver: $(ls "$borrowed" | tr '\n' ' ')"
if [[ ! -e /etc/fonts/fonts.conf ]]; then
  printf '<?xml version="1.0"?>\n<fontconfig><dir>%s</dir><cachedir>%s</cachedir></fontconfig>\n' \
    "$DEPS/bundle/usr/share/fonts" "$(mktemp -d)" >"$borrowed/fonts.conf"
  export FONTCONFIG_FILE="$borrowed/fonts.conf"
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake;$DEPS/usr/share/cmake" \
  -DCMAKE_CXX_FLAGS="-I$DEPS/usr/include" -DSAE_TEST_PYTHON="$(command -v "$PYTHON")"
cmake --build "$BUILD" -j "$(nproc)"

echo "== test suite, CUDA tests on"
# A failure is reported, and the figures below are still taken: device time is scarce.
suite=passed
ctest --test-dir "$BUILD" --output-on-failure -j 8 || suite=FAILED
"$BUILD/sae_unit_tests" --gtest_filter='Cuda.*' || suite=FAILED  # shows they ran, not skipped
echo "test suite: $suite"

echo "== 10 epochs of configs/fashion-mnist.toml, on the GPU"
"$BUILD/sae" train --config configs/fashion-mnist.toml --device cuda --out "$RUN/gpu" --force --quiet
echo "== the first epoch on the CPU, for its images/s"
"$BUILD/sae" train --config configs/fashion-mnist.toml --device cpu --epochs 1 --out "$RUN/cpu" --force --quiet

echo "== the same 10 epochs in plain PyTorch (scripts/reference.py), on the same GPU"
ref_json="$("$PYTHON" scripts/reference.py --data-dir data/fashion-mnist --epochs 10 --device cuda)"

gpu_json="$("$BUILD/sae" eval --checkpoint "$RUN/gpu/model.pt" --device cuda --json --no-probe)"
cpu_json="$("$BUILD/sae" eval --checkpoint "$RUN/gpu/model.pt" --device cpu --json --no-probe)"
"$PYTHON" - "$gpu_json" "$cpu_json" "$RUN/gpu/metrics.csv" "$RUN/cpu/metrics.csv" "$ref_json" <<'PY'
import csv, json, sys
gpu, cpu, ref = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[5])
speed = lambda path: [float(r["images_per_s"]) for r in csv.DictReader(open(path))]
gpu_speed, cpu_speed = speed(sys.argv[3]), speed(sys.argv[4])
print(f"eval on GPU: mse {gpu['mse']:.8f}  kl {gpu['kl']:.6f}  ({gpu['images_per_s']:.0f} img/s)")
print(f"eval on CPU: mse {cpu['mse']:.8f}  kl {cpu['kl']:.6f}  ({cpu['images_per_s']:.0f} img/s)")
print(f"training: GPU {sorted(gpu_speed)[len(gpu_speed) // 2]:.0f} img/s (median of {len(gpu_speed)} epochs), "
      f"CPU {cpu_speed[0]:.0f} img/s (1 epoch)")
sae_gpu = sum(gpu_speed) / len(gpu_speed)
print(f"training on the GPU over 10 epochs: sae {sae_gpu:.0f} img/s (mean of epochs), "
      f"reference {ref['train_images_per_s']:.0f} img/s: ratio {sae_gpu / ref['train_images_per_s']:.2f}; "
      f"reference test mse {ref['test_mse']:.6f} kl {ref['test_kl']:.4f}")
print(f"eval on the GPU: sae {gpu['images_per_s']:.0f} img/s, reference {ref['eval_images_per_s']:.0f} img/s")
ok = abs(gpu["mse"] - cpu["mse"]) <= 1e-4 and abs(gpu["kl"] - cpu["kl"]) <= 1e-4
print("GPU and CPU evaluation agree within 1e-4" if ok else "MISMATCH beyond 1e-4")
sys.exit(0 if ok else 1)
PY
