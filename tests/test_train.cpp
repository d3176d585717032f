#include <gtest/gtest.h>

#include "sae/eval.hpp"
#include "sae/train.hpp"
#include "test_util.hpp"

namespace sae {
namespace {

Dataset synthetic_dataset(uint32_t count, uint32_t seed) {
  const auto pixels = test::synthetic_pixels(count, seed);
  auto images = torch::from_blob(const_cast<uint8_t*>(pixels.data()),
                                 {static_cast<int64_t>(count), 28, 28}, torch::kUInt8)
                    .clone();
  return {images, torch::arange(static_cast<int64_t>(count)) % 10};
}

TEST(Train, LossGoesDownOnSyntheticImages) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(300, 1);
  SparseAutoencoder model;
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(3e-3));
  const SparseLoss loss_fn(0.005, 0.05);
  const torch::Device cpu(torch::kCPU);
  const auto first = train_one_epoch(model, optimizer, loss_fn, data, /*batch_size=*/32,
                                     /*seed=*/1, /*epoch=*/1, cpu, ProgressStyle::kNone);
  LossAverages last;
  for (int epoch = 2; epoch <= 6; ++epoch) {
    last =
        train_one_epoch(model, optimizer, loss_fn, data, 32, 1, epoch, cpu, ProgressStyle::kNone);
  }
  EXPECT_LT(last.loss, 0.7 * first.loss) << "first " << first.loss << ", last " << last.loss;
  EXPECT_LT(last.mse, first.mse);
  EXPECT_GT(last.images_per_s, 0.0);
}

TEST(Eval, MetricsFollowTheirDefinitionsAndIgnoreBatchSize) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(37, 2);
  SparseAutoencoder model;
  const torch::Device cpu(torch::kCPU);
  const auto m = evaluate(model, data, /*beta=*/0.1, /*rho=*/0.05, /*batch_size=*/8, cpu);

  // The same numbers from one big forward pass, written out from the definitions.
  torch::NoGradGuard no_grad;
  const auto images = to_float_batch(data.images).to(torch::kFloat64);
  model->to(torch::kFloat64);
  const auto out = model->forward(images);
  const double mse = (out.reconstruction - images).pow(2).sum().item<double>() / (37.0 * 784);
  const auto rho_hat = out.code.mean(0);
  const double kl = (0.05 * torch::log(0.05 / rho_hat) + 0.95 * torch::log(0.95 / (1 - rho_hat)))
                        .sum()
                        .item<double>();
  EXPECT_EQ(m.images, 37);
  EXPECT_NEAR(m.mse, mse, 1e-6 * mse);
  EXPECT_NEAR(m.kl, kl, 1e-5 * kl);
  EXPECT_NEAR(m.loss, m.mse + 0.1 * m.kl, 1e-12);
  EXPECT_NEAR(m.psnr, 10 * std::log10(1 / m.mse), 1e-9);

  model->to(torch::kFloat32);
  const auto whole = evaluate(model, data, 0.1, 0.05, /*batch_size=*/37, cpu);
  EXPECT_NEAR(whole.mse, m.mse, 1e-6 * m.mse);
  EXPECT_NEAR(whole.kl, m.kl, 1e-5 * m.kl);
}

TEST(Train, ValidateNamesTheBadFlag) {
  TrainOptions o;
  o.epochs = 0;
  try {
    validate(o);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--epochs"), std::string::npos);
  }
  o = TrainOptions{};
  o.lr = -1;
  EXPECT_THROW(validate(o), std::invalid_argument);
  o = TrainOptions{};
  o.rho = 1.5;
  EXPECT_THROW(validate(o), std::invalid_argument);
  EXPECT_NO_THROW(validate(TrainOptions{}));
}

}  // namespace
}  // namespace sae
