#pragma once
// The original model's loss: MSE + beta * sum_j KL(rho || rho_hat_j), and its L1 / no-penalty
// siblings.

#include <torch/torch.h>

#include <string>

namespace sae {

/// Which sparsity penalty beta weighs.
enum class Penalty {
  kKl,    // sum_j KL(rho || rho_hat_j): the original model's
  kL1,    // sum_j mean_i |h_ij|: the L1 variant (as SAELens uses)
  kNone,  // a plain autoencoder, for comparison
};

/// "kl", "l1" or "none" -> Penalty; throws UsageError otherwise.
Penalty parse_penalty(const std::string& name);
/// Penalty -> "kl", "l1" or "none".
std::string penalty_name(Penalty penalty);

/// The loss and its parts, each a scalar tensor.
struct LossTerms {
  torch::Tensor total;    // mse + beta * penalty
  torch::Tensor mse;      // mean squared error over all pixels
  torch::Tensor kl;       // sum_j KL(rho || rho_hat_j), whatever the penalty (a diagnostic)
  torch::Tensor penalty;  // what beta weighs
};

/// rho_hat is clamped into [kRhoHatEps, 1 - kRhoHatEps] so the KL stays finite.
constexpr double kRhoHatEps = 1e-6;

/// sum_j KL(rho || rho_hat_j) = sum_j rho log(rho/rho_hat_j) + (1-rho) log((1-rho)/(1-rho_hat_j)).
torch::Tensor kl_sparsity(const torch::Tensor& rho_hat, double rho);  // (S) -> ()
/// Per-unit KL(rho || rho_hat_j), the terms kl_sparsity sums.
torch::Tensor kl_per_unit(const torch::Tensor& rho_hat, double rho);  // (S) -> (S)
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

  double beta() const { return beta_; }
  double rho() const { return rho_; }
  Penalty penalty_kind() const { return penalty_; }

 private:
  double beta_;
  double rho_;
  Penalty penalty_;
};

}  // namespace sae
