#pragma once
// `sae train`: Adam on MSE + beta * KL, one run folder per run, resumable.

#include <torch/torch.h>

#include "sae/checkpoint.hpp"
#include "sae/idx.hpp"
#include "sae/loss.hpp"
#include "sae/model.hpp"
#include "sae/progress.hpp"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace sae {

/// Options of `sae train`; the defaults are the seed's hyperparameters.
struct TrainOptions {
  int64_t epochs = 10;            ///< passes over the training set
  double beta = 0.005;            ///< weight of the KL sparsity penalty
  double rho = 0.01;              ///< target mean activation of each code unit
  double lr = 1e-3;               ///< Adam's learning rate
  std::string penalty = "kl";     ///< what beta weighs: kl | l1 | none
  double weight_decay = 0.0;      ///< L2 on the weights (not the biases), as in UFLDL
  int64_t beta_warmup = 0;        ///< optimizer steps over which beta ramps up from 0
  int64_t batch_size = 100;       ///< training images per step
  int64_t test_batch_size = 600;  ///< images per forward pass when evaluating
  uint64_t seed = 42;             ///< weights and data order
  std::string data_dir = "data/mnist";
  std::string out;              ///< run folder; empty: runs/<date-time>
  std::string resume;           ///< run folder to continue from its last checkpoint
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< CPU threads; 0: one per core
  bool force = false;           ///< write into an existing, non-empty run folder
  bool quiet = false;           ///< warnings and errors only, no progress
};

/// Exit code of a run stopped by SIGINT or SIGTERM: 128 + the signal, as shells report it.
constexpr int kExitSignalBase = 128;

/// A loss that is NaN or infinite; the message names the epoch and batch.
class NonFiniteLoss : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The options as a config file with a [train] section, the flags' names as keys.
std::string to_config_toml(const TrainOptions& options);

/// Checks every option's range, throwing std::invalid_argument that names the flag.
void validate(const TrainOptions& options);

/// What every training step of a run shares.
struct StepSettings {
  SparseLoss loss;
  int64_t batch_size = 100;
  int64_t beta_warmup = 0;  // steps over which beta ramps linearly from 0 to loss.beta()
  uint64_t seed = 0;        // of the data order
  torch::Device device = torch::kCPU;
};

/// Adam (betas 0.9/0.999, eps 1e-8) over the model, with L2 `weight_decay` on the weights only.
torch::optim::Adam make_optimizer(SparseAutoencoder& model, double lr, double weight_decay);

/// Trains on `data` from batch `progress.batches` on, in the order epoch_order(seed, epoch) gives:
/// for each batch forward, loss, backward, Adam step. Returns true when the epoch is complete,
/// false when `should_stop` said so after a batch. Throws NonFiniteLoss before the step that a
/// NaN or infinite loss would poison.
bool train_epoch(
    SparseAutoencoder& model, torch::optim::Adam& optimizer, const Dataset& data,
    const StepSettings& settings, int64_t epoch, EpochProgress& progress, ProgressStyle style,
    const std::function<bool()>& should_stop = [] { return false; });

/// Runs `sae train`; returns the process exit code.
int run_train(TrainOptions options);

}  // namespace sae
