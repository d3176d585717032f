// No penalty: a plain autoencoder with the same sigmoid code, for comparison.

#include "kinds.hpp"

namespace sae {
namespace {

class NoSparsity final : public Sparsity {
 public:
  Penalty kind() const override { return Penalty::kNone; }
  const char* name() const override { return "none"; }
  const char* help() const override { return "a plain autoencoder"; }

  torch::Tensor penalty(const torch::Tensor& rho_hat, double) const override {
    return torch::zeros({}, rho_hat.options());
  }

  double penalty_cpu(const std::vector<float>&, double) const override { return 0.0; }

  std::vector<double> penalty_grad_cpu(const std::vector<float>& rho_hat, double) const override {
    return std::vector<double>(rho_hat.size(), 0.0);
  }
};

}  // namespace

const Sparsity& none_kind() {
  static const NoSparsity kind;
  return kind;
}

}  // namespace sae
