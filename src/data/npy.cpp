#include "sae/data/npy.hpp"

#include <fmt/format.h>

#include "sae/base/atomic_file.hpp"
#include "sae/data/npy_file.hpp"

#include <cstring>
#include <stdexcept>

namespace sae {
namespace {

constexpr char kMagic[] = "\x93NUMPY";       // then the version, 1.0
constexpr size_t kMagicLength = 6 + 2;       // magic string and version bytes
constexpr size_t kHeaderLengthBytes = 2;     // version 1.0: a little-endian uint16
constexpr size_t kAlignment = 64;            // numpy pads the header to this (ARRAY_ALIGN)
constexpr size_t kGrowthAxisMaxDigits = 21;  // numpy >= 1.24 leaves room to rewrite shape[0]

/// numpy's descr for the tensor's dtype.
const char* descr_of(const torch::Tensor& array) {
  switch (array.scalar_type()) {
    case torch::kFloat32:
      return "<f4";
    case torch::kUInt8:
      return "|u1";
    default:
      throw std::invalid_argument(fmt::format("write_npy: float32 or uint8 only, not {}",
                                              c10::toString(array.scalar_type())));
  }
}

torch::ScalarType scalar_type_of(NpyType type) {
  switch (type) {
    case NpyType::kUint8:
      return torch::kUInt8;
    case NpyType::kInt8:
      return torch::kInt8;
    case NpyType::kInt32:
      return torch::kInt32;
    case NpyType::kInt64:
      return torch::kInt64;
    case NpyType::kFloat32:
      return torch::kFloat32;
    case NpyType::kFloat64:
      return torch::kFloat64;
  }
  TORCH_CHECK(false, "an NpyType without a tensor type");
}

/// Python's repr of the shape tuple: "(10000, 64)", "(10000,)", "()".
std::string shape_repr(const torch::Tensor& array) {
  std::string repr = "(";
  for (int64_t d = 0; d < array.dim(); ++d) {
    repr += std::to_string(array.size(d));
    repr += array.dim() == 1 ? "," : (d + 1 < array.dim() ? ", " : "");
  }
  return repr + ")";
}

}  // namespace

std::string npy_bytes(const torch::Tensor& array) {
  const char* descr = descr_of(array);
  // numpy's _write_array_header: the dict with sorted keys, room for a longer first dimension,
  // then spaces and a newline up to the next multiple of 64 bytes.
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   descr, shape_repr(array));
  if (array.dim() > 0) {
    const size_t digits = std::to_string(array.size(0)).size();
    header.append(kGrowthAxisMaxDigits - std::min(digits, kGrowthAxisMaxDigits), ' ');
  }
  const size_t with_newline = header.size() + 1;
  const size_t padding =
      kAlignment - (kMagicLength + kHeaderLengthBytes + with_newline) % kAlignment;
  header.append(padding, ' ');
  header.push_back('\n');

  const auto data = array.contiguous().cpu();
  const auto data_bytes = static_cast<size_t>(data.numel()) * data.element_size();
  std::string out(kMagic, 6);
  out.push_back('\x01');  // version 1.0
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));  // little-endian uint16
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(static_cast<const char*>(data.data_ptr()), data_bytes);  // x86 is little-endian
  return out;
}

void write_npy(const std::string& path, const torch::Tensor& array) {
  write_file_atomically(path, npy_bytes(array));
}

torch::Tensor read_npy(const std::string& path) {
  // The tensor takes over the bytes as read, without a copy: a data set can be most of memory.
  auto array = std::make_unique<NpyArray>(read_npy_file(path));
  const torch::ScalarType type = scalar_type_of(array->type);
  const std::vector<int64_t> shape = array->shape;
  void* data = array->data.data();
  NpyArray* owner = array.release();
  return torch::from_blob(
      data, shape, [owner](void*) { delete owner; }, torch::TensorOptions().dtype(type));
}

}  // namespace sae
