#pragma once
// A checkpoint is a run folder's model.pt plus what evaluating and resuming need beside it.

#include <torch/torch.h>

#include "sae/model.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sae {

/// A checkpoint that cannot be read; the message names the file and what is wrong.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How far an epoch got: enough to continue it exactly where an interruption stopped it.
struct EpochProgress {
  int64_t batches = 0;  // batches done, in the order epoch_order(seed, epoch) gives
  int64_t images = 0;   // images seen
  double loss_sum = 0.0, mse_sum = 0.0, kl_sum = 0.0;  // image-weighted sums of the batch losses
  double seconds = 0.0;                                // training time spent on it
};

/// What is stored in checkpoint.json beside model.pt.
struct CheckpointInfo {
  int64_t epoch = 0;      // epochs completed
  EpochProgress partial;  // of epoch + 1, when training was interrupted inside it
  double beta = 0.0;
  double rho = 0.0;
  std::string penalty = "kl";  // what beta weighs: kl, l1 or none
  double lr = 0.0;
  int64_t batch_size = 0;
  uint64_t seed = 0;
  std::string data_dir;  // the folder it was trained on
};

/// Writes model.pt, optimizer.pt and checkpoint.json into `run_dir`, each atomically.
void save_checkpoint(const std::string& run_dir, SparseAutoencoder& model,
                     torch::optim::Adam& optimizer, const CheckpointInfo& info);
/// Loads the optimizer.pt beside `model_path` into `optimizer`.
void load_optimizer(const std::string& model_path, torch::optim::Adam& optimizer);
/// Loads model.pt onto `device`, checking every parameter's name and shape against the seed's.
SparseAutoencoder load_model(const std::string& model_path, const torch::Device& device);
/// Reads the checkpoint.json that stands beside `model_path`.
CheckpointInfo load_checkpoint_info(const std::string& model_path);

/// A checkpoint opened for eval, reconstruct and inspect.
struct OpenedCheckpoint {
  SparseAutoencoder model;  // on the requested device
  CheckpointInfo info;
  std::string data_dir;  // the override if given, else the folder it was trained on
};
/// Loads model.pt and checkpoint.json; `data_dir` (if not empty) replaces the stored data folder.
OpenedCheckpoint open_checkpoint(const std::string& model_path, const std::string& data_dir,
                                 const torch::Device& device);

}  // namespace sae
