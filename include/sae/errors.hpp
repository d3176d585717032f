#pragma once
// What went wrong, by meaning: main() turns each kind into its exit code.

#include <stdexcept>

namespace sae {

/// A bad argument or flag combination: the user can fix the command line (exit 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sae
