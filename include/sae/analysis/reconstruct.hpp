#pragma once
// Originals over their reconstructions: `sae reconstruct` and the end of every training run.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"
#include "sae/data/image.hpp"
#include "sae/model/model.hpp"
#include "sae/plot/image_grid.hpp"

namespace sae {

/// The first `count` images of `data` in rows of up to 16: a row of originals, then a row of
/// their reconstructions below, as in the original model's output figure.
GrayImage reconstruction_grid(SparseAutoencoder& model, const Dataset& data, int64_t count,
                              const torch::Device& device);

/// The same rows as a picture that says what it shows: each row labelled original or
/// reconstruction, each reconstruction's MSE under it; the caller gives it a title.
TileGrid reconstruction_picture(SparseAutoencoder& model, const Dataset& data, int64_t count,
                                const torch::Device& device);

}  // namespace sae
