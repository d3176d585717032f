#pragma once
// Reading one MNIST-format (IDX) file, raw or gzip-compressed. Plain C++ (no LibTorch), so that
// the fuzzer can build it in seconds.

#include "sae/data/image_size.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sae {

/// A file or folder of data that cannot be used; the message names it and says what is wrong.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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
