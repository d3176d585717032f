// The original model's penalty: sum_j KL(rho || rho_hat_j), with rho_hat_j clamped into
// [kRhoHatEps, 1 - kRhoHatEps] so that it stays finite.

#include "kinds.hpp"

#include <algorithm>
#include <cmath>

namespace sae {
namespace {

// The clamp's bounds in float32, where the network computes rho_hat.
constexpr float kLow = static_cast<float>(kRhoHatEps);
constexpr float kHigh = static_cast<float>(1.0 - kRhoHatEps);

class KlSparsity final : public Sparsity {
 public:
  Penalty kind() const override { return Penalty::kKl; }
  const char* name() const override { return "kl"; }
  const char* help() const override { return "the original model's"; }

  torch::Tensor penalty(const torch::Tensor& rho_hat, double rho) const override {
    return kl_sparsity(rho_hat, rho);
  }

  double penalty_cpu(const std::vector<float>& rho_hat, double rho) const override {
    double kl = 0.0;
    for (const float r : rho_hat) {
      const double p = std::clamp(r, kLow, kHigh);
      kl += rho * std::log(rho / p) + (1.0 - rho) * std::log((1.0 - rho) / (1.0 - p));
    }
    return kl;
  }

  // d KL / d p = -rho / p + (1 - rho) / (1 - p) inside the clamp; outside it the clamp passes no
  // gradient, as torch's clamp does (its bounds included, NaN excluded).
  std::vector<double> penalty_grad_cpu(const std::vector<float>& rho_hat,
                                       double rho) const override {
    std::vector<double> grad(rho_hat.size(), 0.0);
    for (size_t j = 0; j < rho_hat.size(); ++j) {
      if (!(rho_hat[j] >= kLow && rho_hat[j] <= kHigh)) continue;
      const double p = rho_hat[j];
      grad[j] = -rho / p + (1.0 - rho) / (1.0 - p);
    }
    return grad;
  }
};

}  // namespace

torch::Tensor kl_per_unit(const torch::Tensor& rho_hat, double rho) {
  const auto p = rho_hat.clamp(kRhoHatEps, 1.0 - kRhoHatEps);
  return rho * torch::log(rho / p) + (1.0 - rho) * torch::log((1.0 - rho) / (1.0 - p));
}

torch::Tensor kl_sparsity(const torch::Tensor& rho_hat, double rho) {
  return kl_per_unit(rho_hat, rho).sum();
}

const Sparsity& kl_kind() {
  static const KlSparsity kind;
  return kind;
}

}  // namespace sae
