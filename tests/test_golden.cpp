// The first 10 training steps against plain PyTorch, as llm.c's test_gpt2 pins GPT-2's: any change
// in the numerics (initialisation, layers, loss, Adam) moves these numbers. The reference is
// tests/golden/first_steps.json, written once by scripts/golden.py with Debian's PyTorch.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sae/base/atomic_file.hpp"
#include "sae/data/dataset.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"
#include "sae/train/train.hpp"

#include <cmath>

namespace sae {
namespace {

// The CPU step computes the same products as PyTorch's layers in another order (float32).
constexpr double kLossTolerance = 1e-5;     // relative, per step
constexpr double kInitialTolerance = 1e-9;  // relative to abs_sum: the same RNG, same draws
constexpr double kFinalTolerance = 2e-5;    // relative to abs_sum, after 10 Adam steps

nlohmann::json golden() {
  return nlohmann::json::parse(
      read_file(std::string(SAE_SOURCE_DIR) + "/tests/golden/first_steps.json"));
}

/// The spec's images: pixel(i, r, c) = (37i + 11r + 7c + rc mod 13) mod 256, or 0 where
/// (r + c + i) mod 5 == 0.
torch::Tensor golden_images(int64_t count) {
  auto pixels = torch::empty({count, kImageSide, kImageSide}, torch::kUInt8);
  auto p = pixels.accessor<uint8_t, 3>();
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t r = 0; r < kImageSide; ++r) {
      for (int64_t c = 0; c < kImageSide; ++c) {
        p[i][r][c] = (r + c + i) % 5 != 0
                         ? static_cast<uint8_t>((i * 37 + r * 11 + c * 7 + (r * c) % 13) % 256)
                         : 0;
      }
    }
  }
  return to_float_batch(pixels);  // (N, 1, 28, 28)
}

void expect_sums(SparseAutoencoder& model, const nlohmann::json& expected, double tolerance) {
  for (const auto& p : model->named_parameters()) {
    const auto values = p.value().to(torch::kFloat64);
    const double sum = values.sum().item<double>();
    const double abs_sum = values.abs().sum().item<double>();
    const auto& want = expected.at(p.key());
    const double scale = want.at("abs_sum").get<double>();
    EXPECT_NEAR(sum, want.at("sum").get<double>(), tolerance * scale) << p.key();
    EXPECT_NEAR(abs_sum, scale, tolerance * scale) << p.key();
  }
}

TEST(Golden, InitialisationMatchesPyTorchFromTheSameSeed) {
  const auto g = golden();
  torch::set_num_threads(1);
  torch::manual_seed(g.at("spec").at("manual_seed").get<uint64_t>());
  SparseAutoencoder model;
  expect_sums(model, g.at("initial"), kInitialTolerance);
}

TEST(Golden, FirstTenStepsMatchPyTorch) {
  const auto g = golden();
  const auto& spec = g.at("spec");
  torch::set_num_threads(1);
  torch::manual_seed(spec.at("manual_seed").get<uint64_t>());
  SparseAutoencoder model;
  auto optimizer = make_optimizer(model, spec.at("optimizer").at("lr").get<double>(),
                                  spec.at("optimizer").at("weight_decay").get<double>());
  const SparseLoss loss_fn(spec.at("beta").get<double>(), spec.at("rho").get<double>());
  const int64_t batch = spec.at("batch_size").get<int64_t>();
  const auto images = golden_images(spec.at("images").get<int64_t>());
  const auto& losses = g.at("losses");
  ASSERT_EQ(losses.size(), spec.at("steps").get<size_t>());
  CpuStep cpu_step(model);  // the step `sae train` takes on the CPU
  for (size_t step = 0; step < losses.size(); ++step) {
    const auto batch_images = images.slice(0, step * batch, (step + 1) * batch);
    const double loss = train_step(model, optimizer, batch_images, loss_fn, &cpu_step).loss;
    const double want = losses[step].get<double>();
    EXPECT_NEAR(loss, want, kLossTolerance * want) << "step " << step + 1;
  }
  expect_sums(model, g.at("final"), kFinalTolerance);
}

}  // namespace
}  // namespace sae
