// The code's activation every kind so far shares: h = sigmoid(z), which keeps every rho_hat_j in
// (0, 1). A kind with another activation (TopK, JumpReLU) overrides these three.

#include "sae/model/sparsity.hpp"

namespace sae {

torch::Tensor Sparsity::activation(const torch::Tensor& z) const {
  return torch::sigmoid(z);
}

void Sparsity::activation_cpu(const torch::Tensor& z) const {
  z.sigmoid_();
}

void Sparsity::activation_backward_cpu(const float* h, float* dh, int64_t count) const {
  for (int64_t i = 0; i < count; ++i) dh[i] = dh[i] * h[i] * (1.0f - h[i]);  // sigmoid' = h (1 - h)
}

}  // namespace sae
