#pragma once
// MNIST-format (IDX) datasets as tensors, and batching them.

#include <torch/torch.h>

#include "sae/data/idx_file.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sae {

/// Which half of an MNIST-format folder to read.
enum class Split { kTrain, kTest };
/// The splits by the names the command line uses: "train" and "test".
inline const std::map<std::string, Split>& split_names() {
  static const std::map<std::string, Split> names = {{"test", Split::kTest},
                                                     {"train", Split::kTrain}};
  return names;
}

/// Images and labels of one split. Images stay bytes: a batch becomes float only when used.
struct Dataset {
  torch::Tensor images;  // (N, 28, 28) uint8
  torch::Tensor labels;  // (N) int64, 0..9
  /// Number of images.
  int64_t size() const { return images.size(0); }
};

/// Reads an IDX3 image file (magic 0x00000803, 28x28 images), raw or .gz, validating it fully.
torch::Tensor read_idx_images(const std::string& path);  // (N, 28, 28) uint8
/// Reads an IDX1 label file (magic 0x00000801, labels 0..9), raw or .gz, validating it fully.
torch::Tensor read_idx_labels(const std::string& path);  // (N) int64
/// Reads one split from `dir`, taking each file as `name` or `name.gz`; counts must agree.
Dataset load_split(const std::string& dir, Split split);

/// The order of `n` items in `epoch`: a shuffle that depends only on (seed, epoch), so any
/// epoch's order can be recreated without replaying the ones before it.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);
/// Gathers images at `indices` as float in [0, 1] (x / 255, as torchvision's ToTensor).
torch::Tensor to_float_batch(const torch::Tensor& images, const torch::Tensor& indices);
/// Converts a slice of uint8 images (B, 28, 28) to float (B, 1, 28, 28) in [0, 1].
torch::Tensor to_float_batch(const torch::Tensor& images);

}  // namespace sae
