#include <gtest/gtest.h>

#include "sae/checkpoint.hpp"
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

/// Trains whole epochs `first`..`last` without interruption.
void train_epochs(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                  const SparseLoss& loss_fn, const Dataset& data, int64_t batch_size, int first,
                  int last, EpochProgress* last_progress = nullptr) {
  for (int epoch = first; epoch <= last; ++epoch) {
    EpochProgress progress;
    ASSERT_TRUE(train_epoch(model, optimizer, loss_fn, data, batch_size, /*seed=*/1, epoch,
                            torch::kCPU, progress, ProgressStyle::kNone));
    if (last_progress) *last_progress = progress;
  }
}

TEST(Train, LossGoesDownOnSyntheticImages) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(300, 1);
  SparseAutoencoder model;
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(3e-3));
  const SparseLoss loss_fn(0.005, 0.05);
  EpochProgress first, last;
  train_epochs(model, optimizer, loss_fn, data, /*batch_size=*/32, 1, 1, &first);
  train_epochs(model, optimizer, loss_fn, data, 32, 2, 6, &last);
  EXPECT_EQ(first.images, 300);
  EXPECT_EQ(first.batches, 10);  // 9 full batches and the last partial one
  const double first_loss = first.loss_sum / first.images;
  const double last_loss = last.loss_sum / last.images;
  EXPECT_LT(last_loss, 0.7 * first_loss) << "first " << first_loss << ", last " << last_loss;
  EXPECT_LT(last.mse_sum, first.mse_sum);
}

TEST(Train, InterruptedAndResumedEndsBitForBitWhereUninterruptedDoes) {
  torch::set_num_threads(1);
  const Dataset data = synthetic_dataset(230, 1);  // 230 = 7 batches of 32 and one of 6
  const SparseLoss loss_fn(0.005, 0.05);
  const auto adam = torch::optim::AdamOptions(1e-3);

  torch::manual_seed(0);
  SparseAutoencoder straight;
  torch::optim::Adam straight_opt(straight->parameters(), adam);
  EpochProgress straight_last;
  train_epochs(straight, straight_opt, loss_fn, data, 32, 1, 2, &straight_last);

  // The same run, stopped after 3 batches of epoch 1, saved, loaded into new objects, resumed.
  torch::manual_seed(0);
  SparseAutoencoder first;
  torch::optim::Adam first_opt(first->parameters(), adam);
  EpochProgress progress;
  int batches = 0;
  ASSERT_FALSE(train_epoch(first, first_opt, loss_fn, data, 32, 1, /*epoch=*/1, torch::kCPU,
                           progress, ProgressStyle::kNone, [&] { return ++batches == 3; }));
  ASSERT_EQ(progress.batches, 3);
  test::TempDir dir;
  save_checkpoint(dir.path().string(), first, first_opt,
                  {0, progress, 0.005, 0.05, 1e-3, 32, 1, ""});

  const std::string model_path = dir / "model.pt";
  SparseAutoencoder resumed = load_model(model_path, torch::kCPU);
  torch::optim::Adam resumed_opt(resumed->parameters(), adam);
  load_optimizer(model_path, resumed_opt);
  EpochProgress resumed_progress = load_checkpoint_info(model_path).partial;
  ASSERT_TRUE(train_epoch(resumed, resumed_opt, loss_fn, data, 32, 1, 1, torch::kCPU,
                          resumed_progress, ProgressStyle::kNone));
  EpochProgress resumed_last;
  train_epochs(resumed, resumed_opt, loss_fn, data, 32, 2, 2, &resumed_last);

  const auto a = straight->named_parameters();
  const auto b = resumed->named_parameters();
  for (const auto& p : a) {
    EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key() << " differs after resume";
  }
  EXPECT_EQ(resumed_last.loss_sum, straight_last.loss_sum);
}

TEST(Train, NonFiniteLossStopsBeforeTheStep) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(64, 1);
  SparseAutoencoder model;
  // A huge learning rate drives the weights to overflow within a few steps.
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e30));
  const SparseLoss loss_fn(0.005, 0.05);
  EpochProgress progress;
  try {
    for (int epoch = 1; epoch <= 20; ++epoch) {
      progress = EpochProgress{};
      train_epoch(model, optimizer, loss_fn, data, 8, 1, epoch, torch::kCPU, progress,
                  ProgressStyle::kNone);
    }
    FAIL() << "the loss stayed finite";
  } catch (const NonFiniteLoss& e) {
    EXPECT_NE(std::string(e.what()).find("at epoch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos) << e.what();
  }
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
