#pragma once
// Pictures of what the sparse code learned: `sae inspect` and the end of every training run.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"
#include "sae/data/image.hpp"
#include "sae/model/model.hpp"
#include "sae/train/eval.hpp"

#include <string>
#include <vector>

namespace sae {

/// What each unit draws, one 28x28 tile per unit: the decoder's output for a code with only that
/// unit at 1, stretched to its own min..max.
std::vector<GrayImage> atom_tiles(SparseAutoencoder& model, const torch::Device& device);
/// The tiles of atom_tiles as one picture, 8 units to a row (as UFLDL's display_network).
GrayImage atoms_grid(const std::vector<GrayImage>& atoms);

/// For each unit, the `per_unit` images of `data` that activate it most, given their codes
/// (N, 64): units 0..63 in 4 blocks of 16 rows, left to right, one row per unit.
GrayImage top_images_grid(const torch::Tensor& codes, const Dataset& data, int per_unit);

/// Writes reconstructions.png, units.png, activations.png, atoms.png and top.png into `dir`,
/// given one evaluation pass over `data` (its metrics and codes) and, if already drawn, the
/// atom_tiles (else it draws them).
void write_pictures(const std::string& dir, SparseAutoencoder& model, const Dataset& data,
                    const Evaluation& evaluation, double rho, const torch::Device& device,
                    const std::vector<GrayImage>& atoms = {});

}  // namespace sae
