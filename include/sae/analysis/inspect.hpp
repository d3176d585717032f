#pragma once
// Pictures of what the sparse code learned: `sae inspect` and the end of every training run.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"
#include "sae/data/image.hpp"
#include "sae/model/model.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/run_config.hpp"

#include <string>
#include <vector>

namespace sae {

/// The activation each unit's atom is decoded at, its typical top activation: the median of its
/// 6 largest activations in `codes` (N, 64), the images top.png shows; 1 for a unit that is never
/// above 0 (a code that never reaches 1 would draw faint atoms at 1, a saturated one overdrawn).
std::vector<double> atom_levels(const torch::Tensor& codes);

/// What each unit draws, one 28x28 tile per unit: the decoder's output for a code with only that
/// unit on, at its atom_levels of `codes` (N, 64), stretched to its own min..max.
std::vector<GrayImage> atom_tiles(SparseAutoencoder& model, const torch::Tensor& codes,
                                  const torch::Device& device);

/// Writes reconstructions.png, units.png, activations.png, atoms.png and top.png into `dir`,
/// given one evaluation pass over `data` (its metrics and codes) of the model `config` trains and,
/// if already drawn, its atom_tiles (else it draws them).
void write_pictures(const std::string& dir, SparseAutoencoder& model, const Dataset& data,
                    const Evaluation& evaluation, const RunConfig& config,
                    const torch::Device& device, const std::vector<GrayImage>& atoms = {});

}  // namespace sae
