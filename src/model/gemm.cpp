#include "sae/model/gemm.hpp"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

namespace sae {
namespace {

std::atomic<bool> timing{false};
std::atomic<int64_t> timed_nanoseconds{0};

/// How dnnl_sgemm reads a 2-D view: 'N' with its row stride, or 'T' (a transposed view) with its
/// column stride. A view with one row (or one column) may have any stride there, but sgemm wants
/// at least the other dimension's size, which it then never steps by.
std::pair<char, int64_t> gemm_layout(const torch::Tensor& m) {
  if (m.stride(1) == 1) return {'N', std::max(m.stride(0), m.size(1))};
  TORCH_CHECK(m.stride(0) == 1, "matmul: operand must be a row-major matrix or its transpose");
  return {'T', std::max(m.stride(1), m.size(0))};
}

}  // namespace

// oneDNN's sgemm: its kernels are chosen from the CPU's features and it holds no lock, so the
// threads' products run side by side (OpenBLAS 0.3.21 picks SSE3 kernels on CPUs newer than it
// knows, and serialises callers).
void matmul(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b,
            bool accumulate) {
  TORCH_CHECK(out.scalar_type() == torch::kFloat && a.scalar_type() == torch::kFloat &&
                  b.scalar_type() == torch::kFloat,
              "matmul: float operands only");
  TORCH_CHECK(out.stride(1) == 1 && a.size(0) == out.size(0) && b.size(1) == out.size(1) &&
                  a.size(1) == b.size(0),
              "matmul: shapes ", a.sizes(), " . ", b.sizes(), " -> ", out.sizes());
  const auto [trans_a, lda] = gemm_layout(a);
  const auto [trans_b, ldb] = gemm_layout(b);
  const bool timed = timing.load(std::memory_order_relaxed);
  const auto start =
      timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  const auto status = dnnl_sgemm(trans_a, trans_b, out.size(0), out.size(1), a.size(1), 1.0f,
                                 a.data_ptr<float>(), lda, b.data_ptr<float>(), ldb,
                                 accumulate ? 1.0f : 0.0f, out.data_ptr<float>(), out.stride(0));
  if (timed) {
    timed_nanoseconds += std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  }
  TORCH_CHECK(status == dnnl_success, "dnnl_sgemm failed with status ", static_cast<int>(status));
}

void time_matmuls(bool on) {
  timing = on;
}

double matmul_seconds() {
  return static_cast<double>(timed_nanoseconds.load()) * 1e-9;
}

}  // namespace sae
