#pragma once
// The loss: MSE + beta * a sparsity penalty on rho_hat (sparsity.hpp: KL, L1 or none), plus what a
// kind of code adds (code.hpp): lambda times its own penalty (jumprelu's L0), and AuxK, which
// lends the dead units to the decoder so that they learn again. And the rules beta and rho follow.

#include <torch/torch.h>

#include "sae/model/model.hpp"
#include "sae/model/sparsity.hpp"

#include <cstdint>
#include <vector>

namespace sae {

/// The loss and its parts, each a scalar tensor.
struct LossTerms {
  torch::Tensor total;    // mse + beta * penalty + l0_coef * own + aux_weight * aux
  torch::Tensor mse;      // mean squared error over all pixels
  torch::Tensor kl;       // sum_j KL(rho || rho_hat_j), whatever the penalty (a diagnostic)
  torch::Tensor penalty;  // what beta weighs
  torch::Tensor own;      // the code's own penalty (jumprelu: mean L0), 0 for the others
  torch::Tensor aux;      // AuxK's MSE, 0 when no unit is dead
};

/// True when rho lies strictly inside (0, 1) also in float32, where the loss is computed.
bool valid_rho(double rho);
/// True when beta is a finite number >= 0.
bool valid_beta(double beta);
/// Checks beta >= 0 and 0 < rho < 1, throwing UsageError that says which is wrong.
void check_sparsity_params(double beta, double rho);

/// The loss of one training step, before the step, and which units fired in it.
struct StepLoss {
  double loss = 0.0, mse = 0.0, kl = 0.0;
  std::vector<uint8_t> fired;  ///< (64) 1 where the unit was active on an image of the batch
  double l0 = 0.0;             ///< active units per image, the batch's mean
};

/// What a kind of code adds to the loss.
struct CodeTerms {
  double l0_coef = 0.0;   ///< lambda: the weight of the code's own penalty
  int64_t aux_k = 0;      ///< AuxK: dead units lent to the decoder per image
  double aux_coef = 0.0;  ///< AuxK's weight, before the min(dead / aux_k, 1) scale
};

/// MSE(reconstruction, input) + beta * a sparsity penalty on the code + the code's terms.
class SparseLoss {
 public:
  /// Throws UsageError unless beta >= 0 and 0 < rho < 1.
  SparseLoss(double beta, double rho, Penalty penalty = Penalty::kKl, CodeTerms terms = {});

  /// Loss terms for one batch through `model` (for its code's own penalty and AuxK's decoder):
  /// its output on `input` (B, 1, 28, 28).
  LossTerms operator()(SparseAutoencoderImpl& model, const AutoencoderOutput& out,
                       const torch::Tensor& input) const;
  /// The penalty of codes whose mean per unit is `rho_hat` (S); mean |h| equals rho_hat as h > 0.
  torch::Tensor penalty(const torch::Tensor& rho_hat) const;
  /// The same loss with another beta (for warm-up).
  SparseLoss with_beta(double beta) const;
  /// The same loss with these units (64, 1 = dead) lent to AuxK.
  SparseLoss with_dead_units(std::vector<uint8_t> dead) const;

  /// The weight of the penalty.
  double beta() const { return beta_; }
  /// The target mean activation of each code unit.
  double rho() const { return rho_; }
  /// Which penalty beta weighs.
  Penalty penalty_kind() const { return penalty_; }
  /// The penalty's kind in the sparsity seam: its forms for autograd and for the CPU step.
  const Sparsity& sparsity() const { return sparsity_of(penalty_); }
  /// What the code adds.
  const CodeTerms& code_terms() const { return terms_; }
  /// (64) 1 where a unit is dead; empty when none is tracked.
  const std::vector<uint8_t>& dead_units() const { return dead_; }
  /// AuxK's weight this step: aux_coef * min(dead / aux_k, 1), 0 without dead units (as sparsify).
  double aux_weight() const;

 private:
  double beta_;
  double rho_;
  Penalty penalty_;
  CodeTerms terms_;
  std::vector<uint8_t> dead_;
};

/// AuxK's code (B, 64): z on each image's aux_k largest z among the dead units it left off
/// (h = 0), ties broken by the lower index; 0 elsewhere. z, not relu(z): the units that die here
/// are those whose z is negative on every image, and a ReLU would pass them no gradient.
torch::Tensor aux_code(const torch::Tensor& z, const torch::Tensor& h,
                       const std::vector<uint8_t>& dead, int64_t aux_k);

/// AuxK's image for this nonlinear decoder: the decoder of h + a, where only a (B, 64) carries a
/// gradient, into the encoder and dec1's weights. h and every other weight are constants, so the
/// dead units' decoder directions (their rows of dec1) learn, and nothing else in the decoder.
torch::Tensor decode_aux(SparseAutoencoderImpl& model, const torch::Tensor& h,
                         const torch::Tensor& a);

}  // namespace sae
