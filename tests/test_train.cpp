#include <gtest/gtest.h>

#include "sae/store/checkpoint.hpp"
#include "sae/train/train.hpp"
#include "test_util.hpp"

#include <limits>
#include <utility>

namespace sae {
namespace {

RunConfig config_with(int64_t batch_size, double beta = 0.005, double rho = 0.05,
                      Penalty penalty = Penalty::kKl) {
  RunConfig config;
  config.batch_size = batch_size;
  config.beta = beta;
  config.rho = rho;
  config.penalty = penalty;
  config.beta_warmup = 0;
  config.seed = 1;
  config.device = "cpu";
  return config;
}

/// Trains the epochs after `cursor.epoch` up to `last` without interruption, starting with
/// what is left of the current one; returns the cursor as the last epoch left it (not advanced).
TrainCursor train_epochs(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                         const Dataset& data, const RunConfig& config, TrainCursor cursor,
                         int64_t last) {
  for (;;) {
    EXPECT_TRUE(
        train_epoch(model, optimizer, data, config, torch::kCPU, cursor, ProgressStyle::kNone));
    if (cursor.epoch + 1 >= last) return cursor;
    cursor = cursor.next_epoch();
  }
}

void expect_same_parameters(SparseAutoencoder& a, SparseAutoencoder& b) {
  const auto b_params = b->named_parameters();
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b_params[p.key()])) << p.key() << " differs";
  }
}

TEST(Train, LossGoesDownOnSyntheticImages) {
  torch::manual_seed(0);
  const Dataset data = test::synthetic_dataset(300, 1);
  const RunConfig config = config_with(32);
  SparseAutoencoder model;
  auto optimizer = make_optimizer(model, 3e-3, 0.0);
  const TrainCursor first = train_epochs(model, optimizer, data, config, TrainCursor{}, 1);
  EXPECT_EQ(first.epoch, 0);  // the cursor counts completed epochs; the caller advances it
  EXPECT_EQ(first.images, 300);
  EXPECT_EQ(first.batches, 10);  // 9 full batches and the last partial one
  EXPECT_EQ(first.steps, 10);
  const TrainCursor last = train_epochs(model, optimizer, data, config, first.next_epoch(), 6);
  EXPECT_EQ(last.epoch, 5);
  EXPECT_EQ(last.steps, 60);  // steps run on across epochs; the sums start over
  EXPECT_EQ(last.images, 300);
  const double first_loss = first.loss_sum / first.images;
  const double last_loss = last.loss_sum / last.images;
  EXPECT_LT(last_loss, 0.7 * first_loss) << "first " << first_loss << ", last " << last_loss;
  EXPECT_LT(last.mse_sum, first.mse_sum);
}

TEST(Train, InterruptedAndResumedEndsBitForBitWhereUninterruptedDoes) {
  torch::set_num_threads(1);
  const Dataset data = test::synthetic_dataset(230, 1);  // 230 = 7 batches of 32 and one of 6
  RunConfig config = config_with(32);
  config.weight_decay = 1e-4;

  torch::manual_seed(0);
  SparseAutoencoder straight;
  auto straight_opt = make_optimizer(straight, config.lr, config.weight_decay);
  const TrainCursor straight_last =
      train_epochs(straight, straight_opt, data, config, TrainCursor{}, 2);

  // The same run, stopped after 3 batches of epoch 1, committed, read back into new objects,
  // resumed.
  torch::manual_seed(0);
  SparseAutoencoder first;
  auto first_opt = make_optimizer(first, config.lr, config.weight_decay);
  TrainCursor cursor;
  int batches = 0;
  ASSERT_FALSE(train_epoch(first, first_opt, data, config, torch::kCPU, cursor,
                           ProgressStyle::kNone, [&] { return ++batches == 3; }));
  ASSERT_EQ(cursor.epoch, 0);
  ASSERT_EQ(cursor.batches, 3);
  ASSERT_EQ(cursor.images, 3 * 32);
  test::TempDir dir;
  save_checkpoint(dir.path().string(), first, first_opt, config, cursor);

  const Checkpoint checkpoint = read_checkpoint(dir.path().string());
  EXPECT_EQ(checkpoint.cursor.batches, 3);
  EXPECT_EQ(checkpoint.cursor.loss_sum, cursor.loss_sum);
  EXPECT_EQ(checkpoint.config.batch_size, 32);
  EXPECT_EQ(checkpoint.config.weight_decay, 1e-4);
  SparseAutoencoder resumed = load_model(checkpoint.model_path, torch::kCPU);
  auto resumed_opt = make_optimizer(resumed, checkpoint.config.lr, checkpoint.config.weight_decay);
  load_optimizer(checkpoint.optimizer_path, resumed_opt);
  const TrainCursor resumed_last =
      train_epochs(resumed, resumed_opt, data, checkpoint.config, checkpoint.cursor, 2);

  expect_same_parameters(straight, resumed);
  EXPECT_EQ(resumed_last.steps, straight_last.steps);
  EXPECT_EQ(resumed_last.loss_sum, straight_last.loss_sum);
}

TEST(Train, NonFiniteLossStopsBeforeTheStep) {
  torch::manual_seed(0);
  const Dataset data = test::synthetic_dataset(64, 1);
  SparseAutoencoder model;
  // A huge learning rate drives the weights to overflow within a few steps.
  auto optimizer = make_optimizer(model, 1e30, 0.0);
  try {
    train_epochs(model, optimizer, data, config_with(8), TrainCursor{}, 20);
    FAIL() << "the loss stayed finite";
  } catch (const NonFiniteLoss& e) {
    EXPECT_NE(std::string(e.what()).find("at epoch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos) << e.what();
  }
  // The step that the bad loss would have taken never happened: the weights are still finite.
  EXPECT_TRUE(all_finite(model));
  for (const auto& p : model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Train, AllFiniteSpotsASingleBadWeight) {
  SparseAutoencoder model;
  EXPECT_TRUE(all_finite(model));
  {
    torch::NoGradGuard no_grad;
    model->dec3->bias[0] = std::numeric_limits<double>::quiet_NaN();
  }
  EXPECT_FALSE(all_finite(model));
}

TEST(Train, WeightDecayShrinksWeightsButNotBiases) {
  // With lr tiny for the data term, decay dominates: |W| falls while biases see no decay term.
  auto run = [](double weight_decay) {
    torch::manual_seed(0);
    SparseAutoencoder model;
    auto optimizer = make_optimizer(model, 1e-3, weight_decay);
    const auto& groups = optimizer.param_groups();
    EXPECT_EQ(groups.size(), 2u);
    EXPECT_EQ(static_cast<const torch::optim::AdamOptions&>(groups[0].options()).weight_decay(),
              weight_decay);
    EXPECT_EQ(static_cast<const torch::optim::AdamOptions&>(groups[1].options()).weight_decay(),
              0.0);
    EXPECT_EQ(groups[0].params().size(), 6u);  // the six weights
    EXPECT_EQ(groups[1].params().size(), 6u);  // the six biases
    for (const auto& p : groups[1].params()) EXPECT_EQ(p.dim(), 1);
    train_epochs(model, optimizer, test::synthetic_dataset(100, 1), config_with(50), TrainCursor{},
                 3);
    return model->enc3->weight.norm().item<double>();
  };
  EXPECT_LT(run(/*weight_decay=*/10.0), run(/*weight_decay=*/0.0));
}

TEST(Train, BetaWarmupRampsTheSparsityWeightFromZero) {
  RunConfig config = config_with(20, /*beta=*/1.0);
  config.beta_warmup = 1000;
  EXPECT_DOUBLE_EQ(warmed_up_loss(config, 1).beta(), 1.0 / 1000);
  EXPECT_DOUBLE_EQ(warmed_up_loss(config, 500).beta(), 0.5);
  EXPECT_DOUBLE_EQ(warmed_up_loss(config, 1000).beta(), 1.0);
  EXPECT_DOUBLE_EQ(warmed_up_loss(config, 5000).beta(), 1.0);  // never beyond beta
  config.beta_warmup = 0;
  EXPECT_DOUBLE_EQ(warmed_up_loss(config, 1).beta(), 1.0);

  // In training, with warmup over many steps, the first step's loss is (almost) the MSE alone.
  const Dataset data = test::synthetic_dataset(20, 1);
  auto first_step_loss = [&](int64_t warmup) {
    torch::manual_seed(0);
    SparseAutoencoder model;
    auto optimizer = make_optimizer(model, 1e-3, 0.0);
    RunConfig c = config_with(20, /*beta=*/1.0);
    c.beta_warmup = warmup;
    TrainCursor p;
    EXPECT_TRUE(train_epoch(model, optimizer, data, c, torch::kCPU, p, ProgressStyle::kNone));
    EXPECT_EQ(p.batches, 1);
    return std::make_pair(p.loss_sum / 20, p.mse_sum / 20 + p.kl_sum / 20);  // beta = 1
  };
  const auto [warm_loss, _] = first_step_loss(/*warmup=*/1000);
  const auto [cold_loss, full] = first_step_loss(/*warmup=*/0);
  EXPECT_NEAR(cold_loss, full, 1e-6);
  // Step 1 of 1000: beta_t = 1/1000, so the loss is mse + kl / 1000.
  EXPECT_LT(warm_loss, 0.1 * cold_loss);
}

TEST(Train, BetaWarmupCountsStepsAcrossEpochs) {
  // One batch per epoch: epoch e is step e, so its loss is mse + (e / 1000) * kl.
  const Dataset data = test::synthetic_dataset(20, 1);
  RunConfig config = config_with(20, /*beta=*/1.0);
  config.beta_warmup = 1000;
  torch::manual_seed(0);
  SparseAutoencoder model;
  auto optimizer = make_optimizer(model, 1e-3, 0.0);
  TrainCursor cursor;
  for (int epoch = 1; epoch <= 3; ++epoch) {
    ASSERT_TRUE(
        train_epoch(model, optimizer, data, config, torch::kCPU, cursor, ProgressStyle::kNone));
    EXPECT_EQ(cursor.steps, epoch);
    const double beta_t = (cursor.loss_sum - cursor.mse_sum) / cursor.kl_sum;
    EXPECT_NEAR(beta_t, epoch / 1000.0, 1e-5) << "epoch " << epoch;
    cursor = cursor.next_epoch();
  }
}

}  // namespace
}  // namespace sae
