#pragma once
// Elapsed wall time, on the steady clock (which no clock adjustment moves).

#include <chrono>

namespace sae {

/// Measures the wall time since it was made.
class Stopwatch {
 public:
  /// Seconds since construction.
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace sae
