#pragma once
// Reading one NumPy NPY file (versions 1.0 to 3.0), as `numpy.save` writes it. Plain C++ (no
// LibTorch), so that the fuzzer can build it in seconds.

#include "sae/data/data_error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// The element types sae reads from NPY files: numpy's descr without its byte order.
enum class NpyType { kUint8, kInt8, kInt32, kInt64, kFloat32, kFloat64 };

/// numpy's name of `type`: "uint8", "float32", ...
const char* npy_type_name(NpyType type);
/// Bytes of one element of `type`.
int npy_type_size(NpyType type);

/// The contents of an NPY file.
struct NpyArray {
  NpyType type = NpyType::kUint8;
  std::vector<int64_t> shape;  // () for a scalar
  std::vector<uint8_t> data;   // product(shape) elements, C order, little-endian
  /// Number of elements: the product of the shape.
  int64_t count() const;
  /// The shape as Python writes it: "(60000, 28, 28)", "(5,)", "()".
  std::string shape_text() const;
};

/// Reads the NPY file at `path`: a little-endian C-order array of a type NpyType names. Throws
/// DataError naming the file for anything else (another dtype, Fortran order, a header numpy
/// would not write) and unless the data is exactly as long as the header's shape says; memory
/// grows only as data arrives, so a lying header costs no more than the file holds.
NpyArray read_npy_file(const std::string& path);

}  // namespace sae
