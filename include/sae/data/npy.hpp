#pragma once
// NumPy's NPY format as tensors: written as version 1.0, what `numpy.load` reads, by hand because
// it is a header and raw bytes (tests/test_npy.cpp checks the header against numpy's own); read
// through npy_file.hpp's checked reader.

#include <torch/torch.h>

#include "sae/data/data_error.hpp"

#include <string>

namespace sae {

/// The bytes of an NPY file holding `array`: float32 ("<f4") or uint8 ("|u1"), any shape,
/// little-endian, C order. Throws std::invalid_argument for another dtype.
std::string npy_bytes(const torch::Tensor& array);

/// Writes `array` to `path` as NPY, atomically.
void write_npy(const std::string& path, const torch::Tensor& array);

/// The NPY file at `path` as a CPU tensor of its shape and dtype (uint8, int8, int32, int64,
/// float32 or float64); throws DataError naming the file for anything else (read_npy_file).
torch::Tensor read_npy(const std::string& path);

}  // namespace sae
