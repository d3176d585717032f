#pragma once
// The original model's loss: MSE + beta * a sparsity penalty on the code (sparsity.hpp: KL, L1 or
// none), and the rules beta and rho follow.

#include <torch/torch.h>

#include "sae/model/sparsity.hpp"

namespace sae {

/// The loss and its parts, each a scalar tensor.
struct LossTerms {
  torch::Tensor total;    // mse + beta * penalty
  torch::Tensor mse;      // mean squared error over all pixels
  torch::Tensor kl;       // sum_j KL(rho || rho_hat_j), whatever the penalty (a diagnostic)
  torch::Tensor penalty;  // what beta weighs
};

/// True when rho lies strictly inside (0, 1) also in float32, where the loss is computed.
bool valid_rho(double rho);
/// True when beta is a finite number >= 0.
bool valid_beta(double beta);
/// Checks beta >= 0 and 0 < rho < 1, throwing UsageError that says which is wrong.
void check_sparsity_params(double beta, double rho);

/// The loss of one training step, before the step: total (mse + beta * penalty), mse and KL.
struct StepLoss {
  double loss = 0.0, mse = 0.0, kl = 0.0;
};

/// MSE(reconstruction, input) + beta * a sparsity penalty on the code.
class SparseLoss {
 public:
  /// Throws UsageError unless beta >= 0 and 0 < rho < 1.
  SparseLoss(double beta, double rho, Penalty penalty = Penalty::kKl);

  /// Loss terms for one batch: reconstruction and input (B, 1, 28, 28), code (B, 64).
  LossTerms operator()(const torch::Tensor& reconstruction, const torch::Tensor& input,
                       const torch::Tensor& code) const;
  /// The penalty of codes whose mean per unit is `rho_hat` (S); mean |h| equals rho_hat as h > 0.
  torch::Tensor penalty(const torch::Tensor& rho_hat) const;
  /// The same loss with another beta (for warm-up).
  SparseLoss with_beta(double beta) const { return SparseLoss(beta, rho_, penalty_); }

  /// The weight of the penalty.
  double beta() const { return beta_; }
  /// The target mean activation of each code unit.
  double rho() const { return rho_; }
  /// Which penalty beta weighs.
  Penalty penalty_kind() const { return penalty_; }
  /// The penalty's kind in the sparsity seam: its forms for autograd and for the CPU step.
  const Sparsity& sparsity() const { return sparsity_of(penalty_); }

 private:
  double beta_;
  double rho_;
  Penalty penalty_;
};

}  // namespace sae
