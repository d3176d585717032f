#pragma once
// `sae train`: Adam on MSE + beta * KL, one run folder per run.

#include <torch/torch.h>

#include "sae/idx.hpp"
#include "sae/loss.hpp"
#include "sae/model.hpp"
#include "sae/progress.hpp"

#include <cstdint>
#include <string>

namespace sae {

/// Options of `sae train`; the defaults are the seed's hyperparameters.
struct TrainOptions {
  int64_t epochs = 10;            ///< passes over the training set
  double beta = 0.005;            ///< weight of the KL sparsity penalty
  double rho = 0.01;              ///< target mean activation of each code unit
  double lr = 1e-3;               ///< Adam's learning rate
  int64_t batch_size = 100;       ///< training images per step
  int64_t test_batch_size = 600;  ///< images per forward pass when evaluating
  uint64_t seed = 42;             ///< weights and data order
  std::string data_dir = "data/mnist";
  std::string out;              ///< run folder; empty: runs/<date-time>
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< CPU threads; 0: one per core
  bool force = false;           ///< write into an existing, non-empty run folder
  bool quiet = false;           ///< warnings and errors only, no progress
  std::string config_toml;      ///< the resolved configuration, saved as config.toml
};

/// Mean loss terms over the images of one pass.
struct LossAverages {
  double loss = 0.0;
  double mse = 0.0;
  double kl = 0.0;
  double seconds = 0.0;
  double images_per_s = 0.0;
};

/// Checks every option's range, throwing std::invalid_argument that names the flag.
void validate(const TrainOptions& options);

/// One epoch over `data` in the order epoch_order(seed, epoch) gives: for each batch forward,
/// loss, backward, Adam step. Throws std::runtime_error naming epoch and batch on a non-finite
/// loss.
LossAverages train_one_epoch(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                             const SparseLoss& loss_fn, const Dataset& data, int64_t batch_size,
                             uint64_t seed, int64_t epoch, const torch::Device& device,
                             ProgressStyle progress);

/// Runs `sae train`; returns the process exit code.
int run_train(TrainOptions options);

}  // namespace sae
