#include "sae/model/loss.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"

#include <cmath>

namespace sae {

bool valid_rho(double rho) {
  // In float32, where the loss is computed, rho must still lie strictly inside (0, 1).
  const auto rho32 = static_cast<float>(rho);
  return rho32 > 0.0f && rho32 < 1.0f;
}

bool valid_beta(double beta) {
  return beta >= 0.0 && std::isfinite(beta);
}

void check_sparsity_params(double beta, double rho) {
  if (!valid_rho(rho)) {
    throw UsageError(
        fmt::format("rho must lie strictly between 0 and 1 (in float32), got {}", rho));
  }
  if (!valid_beta(beta)) {
    throw UsageError(fmt::format("beta must be a finite number >= 0, got {}", beta));
  }
}

SparseLoss::SparseLoss(double beta, double rho, Penalty penalty)
    : beta_(beta), rho_(rho), penalty_(penalty) {
  check_sparsity_params(beta, rho);
}

torch::Tensor SparseLoss::penalty(const torch::Tensor& rho_hat) const {
  return sparsity().penalty(rho_hat, rho_);
}

LossTerms SparseLoss::operator()(const torch::Tensor& reconstruction, const torch::Tensor& input,
                                 const torch::Tensor& code) const {
  const auto rho_hat = code.mean(/*dim=*/0);  // (64)
  auto mse = torch::mse_loss(reconstruction, input);
  auto penalty = this->penalty(rho_hat);
  // The KL is reported whatever the penalty; when it is the penalty, its kernels run once (the
  // GPU step is bound by kernel launches, not arithmetic).
  auto kl = penalty_ == Penalty::kKl ? penalty : kl_sparsity(rho_hat, rho_);
  return {mse + beta_ * penalty, mse, kl, penalty};
}

}  // namespace sae
