#include "sae/train/resample.hpp"

#include "sae/train/adam.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace sae {
namespace {

// A resampled encoder row's norm, relative to the live rows' mean. Anthropic's 0.2 suits an L1
// code, where a unit needs only z > 0 to fire; under TopK a unit must beat the live ones on its
// image, which 0.2 of their norm never does here, so it starts at their norm.
constexpr double kEncoderScale = 1.0;

/// Zeroes Adam's moments of `param`'s rows `units` (along dim 0), where Adam has state for it.
void reset_adam_rows(torch::optim::Adam& optimizer, const torch::Tensor& param,
                     const std::vector<int64_t>& units) {
  torch::optim::AdamParamState* state = adam_state_of(optimizer, param);
  if (state == nullptr) return;  // no step taken yet
  for (const int64_t j : units) {
    state->exp_avg()[j].zero_();
    state->exp_avg_sq()[j].zero_();
  }
}

/// The mean norm of the rows (dim 0) of `weight` not in `dead`; 1 when every unit is dead.
double live_row_norm(const torch::Tensor& weight, const std::vector<uint8_t>& dead, int64_t dim) {
  const auto norms = weight.detach().transpose(0, dim).flatten(1).norm(2, /*dim=*/1);  // (64)
  double sum = 0.0;
  int64_t live = 0;
  for (int64_t j = 0; j < norms.size(0); ++j) {
    if (dead[j] == 0) {
      sum += norms[j].item<double>();
      ++live;
    }
  }
  return live > 0 ? sum / static_cast<double>(live) : 1.0;
}

}  // namespace

int64_t resample_dead_units(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                            const torch::Tensor& images, const std::vector<uint8_t>& dead,
                            uint64_t seed, int64_t step, const ProcessGroup& group) {
  std::vector<int64_t> units;
  for (int64_t j = 0; j < kCodeSize; ++j) {
    if (dead[j] != 0) units.push_back(j);
  }
  if (units.empty()) return 0;
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();  // no side effects: batchtopk's threshold stays where training left it
  const auto h2 = torch::relu(model->enc2(torch::relu(model->enc1(images))));  // (B, 32, 7, 7)
  const auto reconstruction = model->decode(model->activate(model->enc3(h2).flatten(1)));
  model->train(was_training);
  const auto loss = (reconstruction - images)
                        .pow(2)
                        .flatten(1)
                        .mean(/*dim=*/1)  // (B)
                        .to(torch::kCPU, torch::kFloat64);

  // Each dead unit's image, drawn with probability ~ loss^2 by a generator of (seed, step).
  std::vector<double> weights(static_cast<size_t>(loss.size(0)));
  for (int64_t b = 0; b < loss.size(0); ++b) weights[b] = std::pow(loss[b].item<double>(), 2);
  const bool drawable = std::any_of(weights.begin(), weights.end(), [](double w) { return w > 0; });
  std::mt19937_64 generator(seed * 1000003u + static_cast<uint64_t>(step));
  auto& enc3 = model->enc3;
  auto& dec1 = model->dec1;
  const double encoder_norm = kEncoderScale * live_row_norm(enc3->weight, dead, /*dim=*/0);
  const double decoder_norm = live_row_norm(dec1->weight, dead, /*dim=*/0);
  auto rows = torch::zeros({static_cast<int64_t>(units.size()), 32, 7, 7}, enc3->weight.options());
  if (drawable && group.rank() == 0) {
    std::discrete_distribution<int64_t> draw(weights.begin(), weights.end());
    for (size_t i = 0; i < units.size(); ++i) {
      const auto features = h2[draw(generator)];  // (32, 7, 7)
      rows[static_cast<int64_t>(i)].copy_(features / features.norm().clamp_min(1e-12));
    }
  }
  if (group.world_size() > 1) group.all_reduce_sum(rows);  // rank 0's draw, on every rank
  if (rows.abs().sum().item<double>() == 0) return 0;      // no image to draw from
  for (size_t i = 0; i < units.size(); ++i) {
    const int64_t j = units[i];
    enc3->weight[j].copy_(rows[static_cast<int64_t>(i)] * encoder_norm);  // (32, 7, 7)
    enc3->bias[j].zero_();
    dec1->weight[j].copy_(rows[static_cast<int64_t>(i)] * decoder_norm);
  }
  reset_adam_rows(optimizer, enc3->weight, units);
  reset_adam_rows(optimizer, enc3->bias, units);
  reset_adam_rows(optimizer, dec1->weight, units);
  return static_cast<int64_t>(units.size());
}

}  // namespace sae
