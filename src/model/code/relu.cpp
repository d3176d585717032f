// h = relu(z) with an L1 penalty: the classic sparse autoencoder that SAELens calls "standard".
// As h >= 0, sum_j mean_b |h_bj| is sum_j rho_hat_j, the L1 penalty of sparsity.hpp. SAELens
// weighs each unit's L1 by its decoder row's norm; this decoder is a nonlinear stack with no
// rows to measure, so the plain L1 is used.

#include "kinds.hpp"

#include <algorithm>

namespace sae {
namespace {

class ReluCode final : public Code {
 public:
  CodeKind kind() const override { return CodeKind::kRelu; }
  const char* name() const override { return "relu"; }
  const char* help() const override { return "relu(z) with an L1 penalty"; }
  Penalty penalty(Penalty) const override { return Penalty::kL1; }

  torch::Tensor activation(const torch::Tensor& z, const CodeSpec&, const CodeTensors&,
                           bool) const override {
    return torch::relu(z);
  }

  void activation_cpu(const CpuCodeBatch& batch, const CodeSpec&, const CodeTensors&,
                      bool) const override {
    for (int64_t i = 0; i < batch.rows * kCodeSize; ++i) {
      batch.code[i] = std::max(batch.pre[i], 0.0f);
    }
  }

  void activation_backward_cpu(const float*, const float* h, float* d, int64_t rows,
                               const CodeSpec&, const CodeTensors&, float*) const override {
    kept_units_backward(h, d, rows * kCodeSize);
  }
};

}  // namespace

const Code& relu_code() {
  static const ReluCode code;
  return code;
}

}  // namespace sae
