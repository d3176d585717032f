#pragma once
// `sae eval`: the test-set metrics of a checkpoint, also computed after every training epoch.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"
#include "sae/train/metrics.hpp"

#include <string>
#include <vector>

namespace sae {

/// What one pass over a dataset gives: its metrics and every image's code.
struct Evaluation {
  EvalMetrics metrics;
  torch::Tensor codes;  // (N, 64) float, on the CPU, in the dataset's order
};

/// Evaluates `model` on every image of `data` (in eval mode, without gradients), in one pass. A
/// unit counts as active (L0, dead units, the thresholded MSE) above its code's active_threshold().
Evaluation evaluate(SparseAutoencoder& model, const Dataset& data, const SparseLoss& loss_fn,
                    int64_t batch_size, const torch::Device& device);

/// The codes of every image of `data`, in order (eval mode, no gradients), without decoding.
torch::Tensor encode_all(SparseAutoencoder& model, const Dataset& data, int64_t batch_size,
                         const torch::Device& device);  // (N, 64) float, on the CPU

}  // namespace sae
