#include "sae/model/loss.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"

#include <algorithm>
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

SparseLoss::SparseLoss(double beta, double rho, Penalty penalty, CodeTerms terms)
    : beta_(beta), rho_(rho), penalty_(penalty), terms_(terms) {
  check_sparsity_params(beta, rho);
}

SparseLoss SparseLoss::with_beta(double beta) const {
  SparseLoss out(beta, rho_, penalty_, terms_);
  out.dead_ = dead_;
  return out;
}

SparseLoss SparseLoss::with_dead_units(std::vector<uint8_t> dead) const {
  SparseLoss out = *this;
  out.dead_ = std::move(dead);
  return out;
}

double SparseLoss::aux_weight() const {
  const auto dead = static_cast<double>(std::count(dead_.begin(), dead_.end(), uint8_t{1}));
  if (dead == 0 || terms_.aux_k == 0) return 0.0;
  return terms_.aux_coef * std::min(dead / static_cast<double>(terms_.aux_k), 1.0);
}

torch::Tensor SparseLoss::penalty(const torch::Tensor& rho_hat) const {
  return sparsity().penalty(rho_hat, rho_);
}

torch::Tensor aux_code(const torch::Tensor& z, const torch::Tensor& h,
                       const std::vector<uint8_t>& dead, int64_t aux_k) {
  torch::Tensor chosen;  // (B, 64), 1 where a unit is lent
  {
    torch::NoGradGuard no_grad;
    const auto dead_units =
        torch::tensor(std::vector<int64_t>(dead.begin(), dead.end()), torch::kInt64).to(z.device());
    const auto eligible = dead_units.gt(0).unsqueeze(0) & h.detach().le(0);  // (B, 64)
    const auto candidates = z.detach().masked_fill(eligible.logical_not(), -INFINITY);
    chosen =
        (topk_mask(candidates, std::min(aux_k, kCodeSize)).gt(0) & eligible).to(z.scalar_type());
  }
  return z * chosen;
}

torch::Tensor decode_aux(SparseAutoencoderImpl& model, const torch::Tensor& h,
                         const torch::Tensor& a) {
  const auto as_map = [](const torch::Tensor& code) {
    return code.view({code.size(0), kCodeSize, 1, 1});  // (B, 64, 1, 1)
  };
  const auto up = [](const torch::Tensor& x, const torch::nn::ConvTranspose2d& layer) {
    return torch::conv_transpose2d(x, layer->weight.detach(), layer->bias.detach(),
                                   /*stride=*/2, /*padding=*/1, /*output_padding=*/1);
  };
  auto x = torch::conv_transpose2d(as_map(h.detach()), model.dec1->weight.detach(),
                                   model.dec1->bias.detach()) +
           torch::conv_transpose2d(as_map(a), model.dec1->weight);  // (B, 32, 7, 7)
  x = torch::relu(x);
  x = torch::relu(up(x, model.dec2));        // (B, 16, 14, 14)
  return torch::sigmoid(up(x, model.dec3));  // (B, 1, 28, 28)
}

LossTerms SparseLoss::operator()(SparseAutoencoderImpl& model, const AutoencoderOutput& out,
                                 const torch::Tensor& input) const {
  const auto rho_hat = out.code.mean(/*dim=*/0);  // (64)
  auto mse = torch::mse_loss(out.reconstruction, input);
  auto penalty = this->penalty(rho_hat);
  // The KL is reported whatever the penalty; when it is the penalty, its kernels run once (the
  // GPU step is bound by kernel launches, not arithmetic).
  auto kl = penalty_ == Penalty::kKl ? penalty : kl_sparsity(rho_hat, rho_);
  auto total = mse + beta_ * penalty;
  const auto zero = torch::zeros({}, mse.options());
  auto own = model.code_kind().own_penalty(out.pre, model.code_spec(), model.code_tensors());
  if (own.defined()) {
    total = total + terms_.l0_coef * own;
  } else {
    own = zero;
  }
  auto aux = zero;
  const double aux_weight = this->aux_weight();
  if (aux_weight > 0 && model.code_kind().relu_family()) {
    const auto a = aux_code(out.pre, out.code, dead_, terms_.aux_k);
    aux = torch::mse_loss(decode_aux(model, out.code, a), input);
    total = total + aux_weight * aux;
  }
  return {total, mse, kl, penalty, own, aux};
}

}  // namespace sae
