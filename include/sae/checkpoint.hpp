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

/// What is stored in checkpoint.json beside model.pt.
struct CheckpointInfo {
  int64_t epoch = 0;  // epochs completed
  double beta = 0.0;
  double rho = 0.0;
  double lr = 0.0;
  int64_t batch_size = 0;
  uint64_t seed = 0;
  std::string data_dir;  // the folder it was trained on
};

/// Writes model.pt, optimizer.pt and checkpoint.json into `run_dir`, each atomically.
void save_checkpoint(const std::string& run_dir, SparseAutoencoder& model,
                     torch::optim::Adam& optimizer, const CheckpointInfo& info);
/// Loads model.pt onto `device`, checking every parameter's name and shape against the seed's.
SparseAutoencoder load_model(const std::string& model_path, const torch::Device& device);
/// Reads the checkpoint.json that stands beside `model_path`.
CheckpointInfo load_checkpoint_info(const std::string& model_path);

}  // namespace sae
