#include "sae/model/loss.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"

#include <cmath>

namespace sae {

Penalty parse_penalty(const std::string& name) {
  if (name == "kl") return Penalty::kKl;
  if (name == "l1") return Penalty::kL1;
  if (name == "none") return Penalty::kNone;
  throw UsageError(fmt::format("unknown penalty '{}': use kl, l1 or none", name));
}

std::string penalty_name(Penalty penalty) {
  switch (penalty) {
    case Penalty::kKl:
      return "kl";
    case Penalty::kL1:
      return "l1";
    case Penalty::kNone:
      return "none";
  }
  return "?";
}

void check_sparsity_params(double beta, double rho) {
  // In float32, where the loss is computed, rho must still lie strictly inside (0, 1).
  const auto rho32 = static_cast<float>(rho);
  if (!(rho32 > 0.0f && rho32 < 1.0f)) {
    throw UsageError(
        fmt::format("rho must lie strictly between 0 and 1 (in float32), got {}", rho));
  }
  if (!(beta >= 0.0 && std::isfinite(beta))) {
    throw UsageError(fmt::format("beta must be a finite number >= 0, got {}", beta));
  }
}

torch::Tensor kl_per_unit(const torch::Tensor& rho_hat, double rho) {
  const auto p = rho_hat.clamp(kRhoHatEps, 1.0 - kRhoHatEps);
  return rho * torch::log(rho / p) + (1.0 - rho) * torch::log((1.0 - rho) / (1.0 - p));
}

torch::Tensor kl_sparsity(const torch::Tensor& rho_hat, double rho) {
  return kl_per_unit(rho_hat, rho).sum();
}

SparseLoss::SparseLoss(double beta, double rho, Penalty penalty)
    : beta_(beta), rho_(rho), penalty_(penalty) {
  check_sparsity_params(beta, rho);
}

torch::Tensor SparseLoss::penalty(const torch::Tensor& rho_hat) const {
  switch (penalty_) {
    case Penalty::kKl:
      return kl_sparsity(rho_hat, rho_);
    case Penalty::kL1:
      return rho_hat.sum();
    case Penalty::kNone:
      break;
  }
  return torch::zeros({}, rho_hat.options());
}

LossTerms SparseLoss::operator()(const torch::Tensor& reconstruction, const torch::Tensor& input,
                                 const torch::Tensor& code) const {
  const auto rho_hat = code.mean(/*dim=*/0);  // (64)
  auto mse = torch::mse_loss(reconstruction, input);
  auto kl = kl_sparsity(rho_hat, rho_);
  auto penalty = penalty_ == Penalty::kKl ? kl : this->penalty(rho_hat);
  return {mse + beta_ * penalty, mse, kl, penalty};
}

}  // namespace sae
