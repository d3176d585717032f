#pragma once
// What went wrong, by meaning: main() turns each kind into its exit code.

#include <stdexcept>
#include <string>

namespace sae {

/// A bad argument or flag combination: the user can fix the command line (exit 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The first line of a LibTorch error: the rest is a C++ backtrace no user needs.
inline std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

}  // namespace sae
