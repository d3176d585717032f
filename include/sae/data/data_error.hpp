#pragma once
// The error of data that cannot be used, shared by every reader of the data layer. Plain C++ (no
// LibTorch), so that the fuzzers build without it.

#include <stdexcept>

namespace sae {

/// A file or folder of data that cannot be used; the message names it and says what is wrong.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sae
