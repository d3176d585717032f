// The NPY writer. The bytes numpy itself writes for the same arrays are checked in
// tests/test_pytorch_interop.py (codes.npy and labels.npy of `sae encode`); here, the layout.

#include <gtest/gtest.h>

#include "sae/data/npy.hpp"

#include <cstring>

namespace sae {
namespace {

/// The header text of an NPY file: from byte 10 to the end of the header.
std::string header_of(const std::string& bytes) {
  const size_t length = static_cast<unsigned char>(bytes[8]) |
                        (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  return bytes.substr(10, length);
}

TEST(Npy, Float32MatrixAsNumpyWritesIt) {
  const auto array = torch::arange(6, torch::kFloat32).view({3, 2});
  const std::string bytes = npy_bytes(array);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::string header = header_of(bytes);
  // numpy 1.24: the dict, 21 - len("3") spaces of room for the first dimension, padding to 64.
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 0), 0u);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ((10 + header.size()) % 64, 0u);
  EXPECT_EQ(10 + header.size(), 128u);  // the length numpy 1.24.2 writes for this array
  ASSERT_EQ(bytes.size(), 10 + header.size() + 6 * sizeof(float));
  float values[6];
  std::memcpy(values, bytes.data() + 10 + header.size(), sizeof values);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], static_cast<float>(i));  // C order
}

TEST(Npy, Uint8VectorAndTheShapeOfOneDimension) {
  const auto labels = torch::tensor({7, 0, 255}, torch::kUInt8);
  const std::string bytes = npy_bytes(labels);
  EXPECT_EQ(header_of(bytes).rfind("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", 0),
            0u);
  EXPECT_EQ(bytes.substr(bytes.size() - 3), std::string("\x07\x00\xff", 3));
}

TEST(Npy, ANonContiguousTensorIsWrittenInItsLogicalOrder) {
  const auto transposed = torch::arange(6, torch::kFloat32).view({2, 3}).t();  // (3, 2)
  const std::string bytes = npy_bytes(transposed);
  float values[6];
  std::memcpy(values, bytes.data() + bytes.size() - sizeof values, sizeof values);
  const float expected[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], expected[i]);
}

TEST(Npy, OtherDtypesAreRefused) {
  EXPECT_THROW(npy_bytes(torch::zeros({2}, torch::kInt64)), std::invalid_argument);
}

}  // namespace
}  // namespace sae
