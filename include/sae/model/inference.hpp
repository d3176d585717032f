#pragma once
// The trained network's forward pass on any device, for evaluation and pictures: CpuStep's kernel
// on the CPU, the torch::nn layers elsewhere; eval mode, no gradients.

#include <torch/torch.h>

#include "sae/model/cpu_step.hpp"
#include "sae/model/model.hpp"

#include <optional>

namespace sae {

/// Forward, encode and decode of `model` on `device`, one entry for every caller that only infers.
class Inference {
 public:
  /// Puts `model` (whose parameters are on `device`) into eval mode.
  Inference(SparseAutoencoder model, const torch::Device& device);

  /// Reconstruction (B, 1, 28, 28) and code (B, 64) of images (B, 1, 28, 28) on the device.
  AutoencoderOutput forward(const torch::Tensor& images);
  /// The code (B, 64) of images (B, 1, 28, 28) on the device.
  torch::Tensor encode(const torch::Tensor& images);
  /// The images (B, 1, 28, 28) that codes (B, 64) on the device draw.
  torch::Tensor decode(const torch::Tensor& codes);

 private:
  SparseAutoencoder model_;
  std::optional<CpuStep> cpu_step_;  // on the CPU only
};

}  // namespace sae
