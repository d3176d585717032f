#pragma once
// NumPy's NPY format, version 1.0: what `numpy.load` reads. Written by hand because it is a
// header and raw bytes; tests/test_npy.cpp checks the header against numpy's own, byte for byte.

#include <torch/torch.h>

#include <string>

namespace sae {

/// The bytes of an NPY file holding `array`: float32 ("<f4") or uint8 ("|u1"), any shape,
/// little-endian, C order. Throws std::invalid_argument for another dtype.
std::string npy_bytes(const torch::Tensor& array);

/// Writes `array` to `path` as NPY, atomically.
void write_npy(const std::string& path, const torch::Tensor& array);

}  // namespace sae
