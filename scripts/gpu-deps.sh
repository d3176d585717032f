#!/usr/bin/env bash
# Run on a Debian 12 machine (this project's): downloads the -dev packages sae builds against and
# the libraries they need at run time, and unpacks them with `dpkg -x` into DEPS_PREFIX (default:
# .gpu-deps), for scripts/gpu-check.sh on a GPU machine that has CMake, nvcc and pip's torch but
# none of Debian's packages. The C/C++ runtime itself (libc6, libstdc++6, libgcc-s1) is left out:
# the GPU machine's own is used.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="$(realpath -m "${1:-.gpu-deps}")"
# The -dev packages, and the shared libraries they link that a CUDA image is unlikely to have.
# PLplot's cairo driver also needs cairo and pango at run time; most images with a desktop stack
# have them; where they are missing, the first plot (loss.png after epoch 1) fails.
PACKAGES=(libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev
          libtomlplusplus-dev libtomlplusplus3 libgtest-dev libpng-dev libpng16-16 zlib1g-dev
          libplplot-dev libplplot17 libplplot-data plplot-driver-cairo libltdl7 libqsastime0
          libcsirocsa0 libcsironn0 libshp2 libhpdf-2.3.0)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "${PACKAGES[@]}")
mkdir -p "$PREFIX"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$PREFIX"; done
echo "unpacked $(ls "$work"/*.deb | wc -l) packages into $PREFIX"
