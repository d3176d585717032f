#include "sae/loss.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace sae {

void check_sparsity_params(double beta, double rho) {
  if (!(rho > 0.0 && rho < 1.0)) {
    throw std::invalid_argument(fmt::format("rho must lie strictly between 0 and 1, got {}", rho));
  }
  if (!(beta >= 0.0)) {
    throw std::invalid_argument(fmt::format("beta must be >= 0, got {}", beta));
  }
}

torch::Tensor kl_sparsity(const torch::Tensor& rho_hat, double rho) {
  const auto p = rho_hat.clamp(kRhoHatEps, 1.0 - kRhoHatEps);
  const auto kl = rho * torch::log(rho / p) + (1.0 - rho) * torch::log((1.0 - rho) / (1.0 - p));
  return kl.sum();
}

SparseLoss::SparseLoss(double beta, double rho) : beta_(beta), rho_(rho) {
  check_sparsity_params(beta, rho);
}

LossTerms SparseLoss::operator()(const torch::Tensor& reconstruction, const torch::Tensor& input,
                                 const torch::Tensor& code) const {
  auto mse = torch::mse_loss(reconstruction, input);
  auto kl = kl_sparsity(code.mean(/*dim=*/0), rho_);  // rho_hat: (64)
  return {mse + beta_ * kl, mse, kl};
}

}  // namespace sae
