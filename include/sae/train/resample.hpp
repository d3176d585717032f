#pragma once
// Anthropic's resampling of dead units ("Towards Monosemanticity", 2023), adapted to this network:
// every --resample-every steps, each dead unit is pointed at an image the model reconstructs
// badly, and its Adam state is reset.

#include <torch/torch.h>

#include "sae/model/model.hpp"
#include "sae/train/distributed.hpp"

#include <cstdint>
#include <vector>

namespace sae {

/// Re-initialises the units marked in `dead` (64) from `images` (B, 1, 28, 28), this rank's
/// slice of the step's batch. Each dead unit draws one image with probability proportional to
/// the square of its reconstruction loss (a generator seeded from `seed` and `step`, so a resumed
/// run draws the same). Its enc3 filter becomes that image's enc2 features h2 (32, 7, 7),
/// normalised and scaled to the mean norm of the live units' filters, with bias 0; its
/// dec1 filter becomes the same direction at the live dec1 filters' mean norm: the decoder mirrors
/// the encoder, so the unit starts by proposing the feature map it responds to. The Adam moments
/// of those rows are zeroed. In a data-parallel `group`, rank 0's draw is sent to every rank.
/// Returns the number of units resampled.
int64_t resample_dead_units(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                            const torch::Tensor& images, const std::vector<uint8_t>& dead,
                            uint64_t seed, int64_t step, const ProcessGroup& group);

}  // namespace sae
