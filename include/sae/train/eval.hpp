#pragma once
// `sae eval`: the test-set metrics of a checkpoint, also computed after every training epoch.

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "sae/data/dataset.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"

#include <string>
#include <vector>

namespace sae {

/// A code unit is active on an image when its activation is above this.
constexpr double kActiveThreshold = 0.5;
/// A unit is far from its target when rho_hat_j > kFarFactor * rho.
constexpr double kFarFactor = 10.0;

/// Metrics over a whole dataset; none depends on the batch size.
struct EvalMetrics {
  int64_t images = 0;
  double mse = 0.0;                    // sum of squared errors / (N * 784)
  double kl = 0.0;                     // sum_j KL(rho || rho_hat_j), rho_hat over all N images
  double l1 = 0.0;                     // sum_j rho_hat_j = mean_i sum_j |h_ij|
  double loss = 0.0;                   // mse + beta * penalty (kl, l1 or 0)
  double psnr = 0.0;                   // 10 log10(1 / mse), in dB
  double explained_variance = 0.0;     // 1 - SSE / sum of squared deviations from the mean image
  double mean_rho_hat = 0.0;           // mean over units of rho_hat_j
  int64_t dead_units = 0;              // units never above kActiveThreshold on any image
  int64_t far_units = 0;               // units with rho_hat_j > kFarFactor * rho
  double mean_l0 = 0.0;                // mean number of units above kActiveThreshold per image
  std::vector<double> rho_hat;         // (64) mean activation of each unit
  std::vector<double> unit_kl;         // (64) KL(rho || rho_hat_j)
  std::vector<double> max_activation;  // (64) largest activation of each unit
  double seconds = 0.0;
  double images_per_s = 0.0;
};

/// What one pass over a dataset gives: its metrics and every image's code.
struct Evaluation {
  EvalMetrics metrics;
  torch::Tensor codes;  // (N, 64) float, on the CPU, in the dataset's order
};

/// Evaluates `model` on every image of `data` (in eval mode, without gradients), in one pass.
Evaluation evaluate(SparseAutoencoder& model, const Dataset& data, const SparseLoss& loss_fn,
                    int64_t batch_size, const torch::Device& device);

/// The metrics as JSON, with the names README documents (mse, kl, loss, psnr, ...).
nlohmann::json to_json(const EvalMetrics& metrics);

/// The codes of every image of `data`, in order (eval mode, no gradients), without decoding.
torch::Tensor encode_all(SparseAutoencoder& model, const Dataset& data, int64_t batch_size,
                         const torch::Device& device);  // (N, 64) float, on the CPU

}  // namespace sae
