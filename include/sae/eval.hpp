#pragma once
// `sae eval`: the test-set metrics of a checkpoint, also used after every training epoch.

#include <torch/torch.h>

#include "sae/idx.hpp"
#include "sae/model.hpp"

#include <optional>
#include <string>

namespace sae {

/// Metrics over a whole dataset; none depends on the batch size.
struct EvalMetrics {
  int64_t images = 0;
  double mse = 0.0;   // sum of squared errors / (N * 784)
  double kl = 0.0;    // sum_j KL(rho || rho_hat_j), rho_hat_j = mean of unit j over all N images
  double loss = 0.0;  // mse + beta * kl
  double psnr = 0.0;  // 10 log10(1 / mse), in dB
  double seconds = 0.0;
  double images_per_s = 0.0;
};

/// Evaluates `model` on every image of `data` (in eval mode, without gradients).
EvalMetrics evaluate(SparseAutoencoder& model, const Dataset& data, double beta, double rho,
                     int64_t batch_size, const torch::Device& device);

/// Options of `sae eval`.
struct EvalOptions {
  std::string checkpoint;       ///< a run's model.pt
  std::string data_dir;         ///< empty: the folder the checkpoint was trained on
  std::optional<double> beta;   ///< default: the checkpoint's
  std::optional<double> rho;    ///< default: the checkpoint's
  int64_t batch_size = 600;     ///< images per forward pass
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< CPU threads; 0: one per core
  bool json = false;            ///< one JSON object on stdout instead of a table
};

/// Runs `sae eval`; returns the process exit code.
int run_eval(const EvalOptions& options);

}  // namespace sae
