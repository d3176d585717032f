#pragma once
// Reading one MNIST-format (IDX) file, raw or gzip-compressed. Plain C++ (no LibTorch), so that
// the fuzzer can build it in seconds.

#include "sae/data/data_error.hpp"
#include "sae/data/image_size.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// Classes of an IDX folder (MNIST's digits, Fashion-MNIST's garments): labels 0..9.
constexpr int64_t kIdxClasses = 10;

/// The contents of an IDX3 image file.
struct IdxImages {
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // count * 28 * 28, row-major
};

/// Reads an IDX3 image file (magic 0x00000803, 28x28), raw or .gz; throws DataError unless the
/// payload is exactly as long as the header promises.
IdxImages read_idx_image_file(const std::string& path);
/// Reads an IDX1 label file (magic 0x00000801), raw or .gz; throws DataError unless the payload is
/// exactly as long as the header promises and every label is 0..9.
std::vector<uint8_t> read_idx_label_file(const std::string& path);

}  // namespace sae
