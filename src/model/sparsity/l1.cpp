// The L1 variant (as SAELens uses): sum_j mean_i |h_ij|, which is sum_j rho_hat_j as the sigmoid
// code is positive.

#include "kinds.hpp"

namespace sae {
namespace {

class L1Sparsity final : public Sparsity {
 public:
  Penalty kind() const override { return Penalty::kL1; }
  const char* name() const override { return "l1"; }
  const char* help() const override { return "sum_j mean_i |h_ij|, the L1 variant"; }

  torch::Tensor penalty(const torch::Tensor& rho_hat, double) const override {
    return rho_hat.sum();
  }

  double penalty_cpu(const std::vector<float>& rho_hat, double) const override {
    double l1 = 0.0;
    for (const float r : rho_hat) l1 += r;
    return l1;
  }

  std::vector<double> penalty_grad_cpu(const std::vector<float>& rho_hat, double) const override {
    return std::vector<double>(rho_hat.size(), 1.0);
  }
};

}  // namespace

const Sparsity& l1_kind() {
  static const L1Sparsity kind;
  return kind;
}

}  // namespace sae
