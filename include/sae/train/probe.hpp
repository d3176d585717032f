#pragma once
// A linear probe: how much of the digit's identity the 64-unit code keeps, and the same probe on
// the raw pixels, the baseline it is read against.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"
#include "sae/model/model.hpp"

#include <cstdint>

namespace sae {

/// What the probe reached.
struct ProbeResult {
  double train_accuracy = 0.0;
  double test_accuracy = 0.0;
  double seconds = 0.0;
};

/// Trains a softmax classifier (D -> `num_classes`, Adam, fixed seed, a few epochs) on
/// `train_codes` (N, D) float with `train_labels` (N), and scores it on the test codes and labels.
ProbeResult linear_probe(const torch::Tensor& train_codes, const torch::Tensor& train_labels,
                         const torch::Tensor& test_codes, const torch::Tensor& test_labels,
                         int64_t num_classes = kIdxClasses);

/// The same probe on the raw pixels of `train` and `test` (N, 784), float in [0, 1], over
/// train's classes.
ProbeResult pixel_probe(const Dataset& train, const Dataset& test);

/// Both probes of a trained model: on the code and on the raw pixels.
struct CodeAndPixelProbes {
  ProbeResult code;
  ProbeResult pixels;
};

/// Probes the code of `model` (every `train` image encoded in batches of `batch_size` on
/// `device`, scored on `test_codes`) and, on a thread of its own beside it, the raw pixels.
CodeAndPixelProbes probe_code_and_pixels(SparseAutoencoder& model, const Dataset& train,
                                         const Dataset& test, const torch::Tensor& test_codes,
                                         int64_t batch_size, const torch::Device& device);

/// A probe that was not run (unlabelled data): every field NaN.
ProbeResult no_probe();

}  // namespace sae
