#pragma once
// The seed's loss: MSE + beta * sum_j KL(rho || rho_hat_j).

#include <torch/torch.h>

namespace sae {

/// The loss and its two parts, each a scalar tensor.
struct LossTerms {
  torch::Tensor total;  // mse + beta * kl
  torch::Tensor mse;    // mean squared error over all pixels
  torch::Tensor kl;     // sum_j KL(rho || rho_hat_j)
};

/// rho_hat is clamped into [kRhoHatEps, 1 - kRhoHatEps] so the KL stays finite.
constexpr double kRhoHatEps = 1e-6;

/// sum_j KL(rho || rho_hat_j) = sum_j rho log(rho/rho_hat_j) + (1-rho) log((1-rho)/(1-rho_hat_j)).
torch::Tensor kl_sparsity(const torch::Tensor& rho_hat, double rho);  // (S) -> ()
/// Checks beta >= 0 and 0 < rho < 1, throwing std::invalid_argument that says which is wrong.
void check_sparsity_params(double beta, double rho);

/// MSE(reconstruction, input) + beta * KL sparsity penalty on the mean code over the batch.
class SparseLoss {
 public:
  /// Throws std::invalid_argument unless beta >= 0 and 0 < rho < 1.
  SparseLoss(double beta, double rho);

  /// Loss terms for one batch: reconstruction and input (B, 1, 28, 28), code (B, 64).
  LossTerms operator()(const torch::Tensor& reconstruction, const torch::Tensor& input,
                       const torch::Tensor& code) const;

  double beta() const { return beta_; }
  double rho() const { return rho_; }

 private:
  double beta_;
  double rho_;
};

}  // namespace sae
