#pragma once
// The penalties beta weighs on the code's mean activations rho_hat, in one seam: as torch autograd
// (the reference and the GPU) and in double for the hand-written CPU step. One file per penalty
// in src/model/sparsity/: a new one is that file, its value in Penalty below, and its line in
// kinds.hpp and registry.cpp. How the code itself is made (sigmoid, TopK, ...) is code.hpp.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// Which sparsity penalty beta weighs.
enum class Penalty {
  kKl,    // sum_j KL(rho || rho_hat_j): the original model's
  kL1,    // sum_j mean_i |h_ij|: the L1 variant (as SAELens uses)
  kNone,  // a plain autoencoder, for comparison
};

/// rho_hat is clamped into [kRhoHatEps, 1 - kRhoHatEps] so the KL stays finite.
constexpr double kRhoHatEps = 1e-6;

/// One penalty, a function of rho_hat_j = mean_b h_bj, the mean of unit j over the batch.
class Sparsity {
 public:
  virtual ~Sparsity() = default;

  /// Its value in the Penalty enum.
  virtual Penalty kind() const = 0;
  /// The name --penalty, config.toml and checkpoint.json use, e.g. "kl".
  virtual const char* name() const = 0;
  /// What --penalty's help says of it, e.g. "the original model's".
  virtual const char* help() const = 0;

  /// The penalty for autograd, in rho_hat's dtype and on its device: rho_hat (64) -> ().
  virtual torch::Tensor penalty(const torch::Tensor& rho_hat, double rho) const = 0;
  /// The same in double for the CPU step, from rho_hat (64) in float as the network holds it.
  virtual double penalty_cpu(const std::vector<float>& rho_hat, double rho) const = 0;
  /// Its gradient d penalty / d rho_hat_j for the CPU step: (64) -> (64), 0 where a clamp holds.
  virtual std::vector<double> penalty_grad_cpu(const std::vector<float>& rho_hat,
                                               double rho) const = 0;
};

/// Every kind, in the order --penalty lists them.
const std::vector<const Sparsity*>& sparsity_kinds();
/// The kind `penalty` names.
const Sparsity& sparsity_of(Penalty penalty);

/// "kl", "l1" or "none" -> Penalty; throws UsageError otherwise.
Penalty parse_penalty(const std::string& name);
/// Penalty -> "kl", "l1" or "none".
std::string penalty_name(Penalty penalty);
/// --penalty's help, from each kind's: "what beta weighs: kl (the original model's), l1 (...) ...".
const char* penalty_help();

/// sum_j KL(rho || rho_hat_j) = sum_j rho log(rho/rho_hat_j) + (1-rho) log((1-rho)/(1-rho_hat_j)),
/// reported whatever the penalty (a diagnostic).
torch::Tensor kl_sparsity(const torch::Tensor& rho_hat, double rho);  // (S) -> ()
/// Per-unit KL(rho || rho_hat_j), the terms kl_sparsity sums.
torch::Tensor kl_per_unit(const torch::Tensor& rho_hat, double rho);  // (S) -> (S)

}  // namespace sae
