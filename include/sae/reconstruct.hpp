#pragma once
// `sae reconstruct`: originals over their reconstructions, as PNGs.

#include <torch/torch.h>

#include "sae/idx.hpp"
#include "sae/image.hpp"
#include "sae/model.hpp"

#include <string>

namespace sae {

/// Converts one image (28, 28) or (1, 28, 28), uint8 or float in [0, 1], to 8-bit gray.
GrayImage to_gray_image(const torch::Tensor& image);

/// The first `count` images of `data` in rows of up to 16: a row of originals, then a row of
/// their reconstructions below, as in the seed's output figure.
GrayImage reconstruction_grid(SparseAutoencoder& model, const Dataset& data, int64_t count,
                              const torch::Device& device);

/// Options of `sae reconstruct`.
struct ReconstructOptions {
  std::string checkpoint;       ///< a run's model.pt
  std::string out;              ///< folder for the PNGs
  std::string data_dir;         ///< empty: the folder the checkpoint was trained on
  std::string split = "test";   ///< test | train
  int64_t count = 16;           ///< how many images
  bool pairs = false;           ///< also write each original/reconstruction pair as its own PNG
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< CPU threads; 0: one per core
};

/// Runs `sae reconstruct`; returns the process exit code.
int run_reconstruct(const ReconstructOptions& options);

}  // namespace sae
