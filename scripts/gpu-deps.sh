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
          libcsirocsa0 libcsironn0 libshp2 libhpdf-2.3.0 libdnnl-dev libdnnl2
          ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-c-headers libkainjow-mustache-dev libstb-dev
          libstb0 libgloo-dev)

# What the cairo driver (PLplot's pngcairo, loaded at run time) needs, unpacked apart into
# DEPS_PREFIX/bundle: scripts/gpu-check.sh links in only those the GPU machine lacks, so that no
# library of the machine's own (Python's libffi, say) is shadowed by Debian's.
CAIRO_RUNTIME=(libcairo2 libpango-1.0-0 libpangocairo-1.0-0 libpangoft2-1.0-0 libfontconfig1
               fontconfig-config fonts-dejavu-core libfreetype6 libfribidi0 libglib2.0-0
               libgraphite2-3 libharfbuzz0b libpixman-1-0 libthai0 libthai-data libdatrie1 libx11-6
               libxau6 libxcb-render0 libxcb-shm0 libxcb1 libxdmcp6 libxext6 libxrender1 libbrotli1
               libexpat1 libffi8 libpcre2-8-0 libbsd0 libmd0 libqhull-r8.0 libmount1 libblkid1
               libselinux1)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dev" "$work/runtime" "$PREFIX/bundle"
(cd "$work/dev" && apt-get download "${PACKAGES[@]}")
(cd "$work/runtime" && apt-get download "${CAIRO_RUNTIME[@]}")
for deb in "$work"/dev/*.deb; do dpkg -x "$deb" "$PREFIX"; done
for deb in "$work"/runtime/*.deb; do dpkg -x "$deb" "$PREFIX/bundle"; done
# Documentation and PLplot's examples are not needed, and the device tool carries 64 MiB at most.
rm -rf "$PREFIX/usr/share/doc" "$PREFIX/bundle/usr/share/doc" "$PREFIX/usr/share/plplot5.15.0/examples"
echo "unpacked $(ls "$work"/dev/*.deb | wc -l) packages into $PREFIX," \
  "$(ls "$work"/runtime/*.deb | wc -l) into $PREFIX/bundle"
