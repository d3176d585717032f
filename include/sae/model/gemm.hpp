#pragma once
// Matrix products on row-major float tensors through oneDNN's sgemm, for the hand-written CPU
// passes (the training step, the linear probe) that run without LibTorch's operators.

#include <torch/torch.h>

namespace sae {

/// out (M, N) <- a (M, K) . b (K, N) (+ out when `accumulate`), float, CPU. Each operand is a
/// row-major matrix or the transpose of one (a .t() view); out is row-major.
void matmul(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b,
            bool accumulate = false);

/// Starts or stops timing every matmul call (off by default: two clock reads a call).
void time_matmuls(bool on);
/// The seconds that matmul calls have taken while timed, summed over the threads that made them.
double matmul_seconds();

}  // namespace sae
