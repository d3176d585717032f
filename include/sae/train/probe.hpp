#pragma once
// A linear probe: how much of the digit's identity the 64-unit code keeps.

#include <torch/torch.h>

#include <cstdint>

namespace sae {

/// What the probe reached.
struct ProbeResult {
  double train_accuracy = 0.0;
  double test_accuracy = 0.0;
  double seconds = 0.0;
};

/// Trains a softmax classifier (64 -> 10, Adam, fixed seed, a few epochs) on `train_codes`
/// (N, 64) with `train_labels` (N), and scores it on the test codes and labels.
ProbeResult linear_probe(const torch::Tensor& train_codes, const torch::Tensor& train_labels,
                         const torch::Tensor& test_codes, const torch::Tensor& test_labels);

}  // namespace sae
