#pragma once
// The opening that eval, reconstruct and inspect share: device, model, settings, loss, data.

#include <torch/torch.h>

#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/train/device.hpp"

#include <string>

namespace sae {

/// Which trained model to analyse, on which data.
struct CheckpointSource {
  std::string checkpoint;  ///< a run folder, or its model.pt
  std::string data_dir;    ///< empty: the folder the run was trained on
};

/// A checkpoint opened for analysis.
struct OpenedModel {
  torch::Device device;
  SparseAutoencoder model;  ///< on `device`
  Checkpoint checkpoint;    ///< the run's settings and how far it trained
  SparseLoss loss;          ///< the run's loss
  std::string data_dir;     ///< the override if given, else the folder it was trained on
};

/// Resolves the device and sets the process's threads, then loads the checkpoint's committed
/// model and settings.
OpenedModel open_model(const CheckpointSource& source, const ComputeOptions& compute);

}  // namespace sae
