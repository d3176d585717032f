#pragma once
// `sae inspect`: pictures of what the sparse code learned.

#include <torch/torch.h>

#include "sae/eval.hpp"
#include "sae/idx.hpp"
#include "sae/image.hpp"
#include "sae/model.hpp"

#include <string>

namespace sae {

/// What each unit draws: the decoder's output for a code with only that unit at 1 (the rest 0),
/// each tile stretched to its own min..max (as UFLDL's display_network), 8 units to a row.
GrayImage atoms_grid(SparseAutoencoder& model, const torch::Device& device);

/// For each unit, the `per_unit` images of `data` that activate it most, given their codes
/// (N, 64): units 0..63 in 4 blocks of 16 rows, left to right, one row per unit.
GrayImage top_images_grid(const torch::Tensor& codes, const Dataset& data, int per_unit);

/// Writes units.png, activations.png, atoms.png and top.png into `dir`, given the metrics of
/// `data` and its codes (N, 64) from encode_all.
void write_inspection(const std::string& dir, SparseAutoencoder& model, const Dataset& data,
                      const EvalMetrics& metrics, const torch::Tensor& codes, double rho,
                      const torch::Device& device);

/// Options of `sae inspect`.
struct InspectOptions {
  std::string checkpoint;       ///< a run's model.pt
  std::string out;              ///< folder for the PNGs
  std::string data_dir;         ///< empty: the folder the checkpoint was trained on
  int64_t batch_size = 600;     ///< images per forward pass
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< CPU threads; 0: one per core
};

/// Runs `sae inspect`; returns the process exit code.
int run_inspect(const InspectOptions& options);

}  // namespace sae
