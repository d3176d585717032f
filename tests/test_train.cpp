#include <gtest/gtest.h>

#include "sae/checkpoint.hpp"
#include "sae/eval.hpp"
#include "sae/probe.hpp"
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

StepSettings settings(int64_t batch_size, double beta = 0.005, double rho = 0.05,
                      Penalty penalty = Penalty::kKl) {
  return {SparseLoss(beta, rho, penalty), batch_size, /*beta_warmup=*/0, /*seed=*/1, torch::kCPU};
}

/// Trains whole epochs `first`..`last` without interruption; returns the last one's progress.
EpochProgress train_epochs(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                           const Dataset& data, const StepSettings& s, int first, int last) {
  EpochProgress progress;
  for (int epoch = first; epoch <= last; ++epoch) {
    progress = EpochProgress{};
    EXPECT_TRUE(train_epoch(model, optimizer, data, s, epoch, progress, ProgressStyle::kNone));
  }
  return progress;
}

void expect_same_parameters(SparseAutoencoder& a, SparseAutoencoder& b) {
  const auto b_params = b->named_parameters();
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b_params[p.key()])) << p.key() << " differs";
  }
}

TEST(Train, LossGoesDownOnSyntheticImages) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(300, 1);
  SparseAutoencoder model;
  auto optimizer = make_optimizer(model, 3e-3, 0.0);
  const EpochProgress first = train_epochs(model, optimizer, data, settings(32), 1, 1);
  const EpochProgress last = train_epochs(model, optimizer, data, settings(32), 2, 6);
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
  const StepSettings s = settings(32);

  torch::manual_seed(0);
  SparseAutoencoder straight;
  auto straight_opt = make_optimizer(straight, 1e-3, 1e-4);
  const EpochProgress straight_last = train_epochs(straight, straight_opt, data, s, 1, 2);

  // The same run, stopped after 3 batches of epoch 1, saved, loaded into new objects, resumed.
  torch::manual_seed(0);
  SparseAutoencoder first;
  auto first_opt = make_optimizer(first, 1e-3, 1e-4);
  EpochProgress progress;
  int batches = 0;
  ASSERT_FALSE(train_epoch(first, first_opt, data, s, /*epoch=*/1, progress, ProgressStyle::kNone,
                           [&] { return ++batches == 3; }));
  ASSERT_EQ(progress.batches, 3);
  test::TempDir dir;
  CheckpointInfo info;
  info.partial = progress;
  save_checkpoint(dir.path().string(), first, first_opt, info);

  const std::string model_path = dir / "model.pt";
  SparseAutoencoder resumed = load_model(model_path, torch::kCPU);
  auto resumed_opt = make_optimizer(resumed, 1e-3, 1e-4);
  load_optimizer(model_path, resumed_opt);
  EpochProgress resumed_progress = load_checkpoint_info(model_path).partial;
  ASSERT_TRUE(
      train_epoch(resumed, resumed_opt, data, s, 1, resumed_progress, ProgressStyle::kNone));
  const EpochProgress resumed_last = train_epochs(resumed, resumed_opt, data, s, 2, 2);

  expect_same_parameters(straight, resumed);
  EXPECT_EQ(resumed_last.loss_sum, straight_last.loss_sum);
}

TEST(Train, NonFiniteLossStopsBeforeTheStep) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(64, 1);
  SparseAutoencoder model;
  // A huge learning rate drives the weights to overflow within a few steps.
  auto optimizer = make_optimizer(model, 1e30, 0.0);
  try {
    train_epochs(model, optimizer, data, settings(8), 1, 20);
    FAIL() << "the loss stayed finite";
  } catch (const NonFiniteLoss& e) {
    EXPECT_NE(std::string(e.what()).find("at epoch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos) << e.what();
  }
  // The step that the bad loss would have taken never happened: the weights are still finite.
  for (const auto& p : model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
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
    train_epochs(model, optimizer, synthetic_dataset(100, 1), settings(50), 1, 3);
    return model->enc3->weight.norm().item<double>();
  };
  EXPECT_LT(run(/*weight_decay=*/10.0), run(/*weight_decay=*/0.0));
}

TEST(Train, BetaWarmupRampsTheSparsityWeightFromZero) {
  // With warmup over many steps, the first step's loss is (almost) the MSE alone.
  const Dataset data = synthetic_dataset(20, 1);
  auto first_step_loss = [&](int64_t warmup) {
    torch::manual_seed(0);
    SparseAutoencoder model;
    auto optimizer = make_optimizer(model, 1e-3, 0.0);
    StepSettings s = settings(20, /*beta=*/1.0);
    s.beta_warmup = warmup;
    EpochProgress p;
    train_epoch(model, optimizer, data, s, 1, p, ProgressStyle::kNone);
    return std::make_pair(p.loss_sum / 20, p.mse_sum / 20 + p.kl_sum / 20);  // beta = 1
  };
  const auto [warm_loss, _] = first_step_loss(/*warmup=*/1000);
  const auto [cold_loss, full] = first_step_loss(/*warmup=*/0);
  EXPECT_NEAR(cold_loss, full, 1e-6);
  // Step 1 of 1000: beta_t = 1/1000, so the loss is mse + kl / 1000.
  EXPECT_LT(warm_loss, 0.1 * cold_loss);
}

TEST(Loss, L1AndNonePenalties) {
  const auto input = torch::zeros({2, 1, 28, 28}, torch::kFloat64);
  const auto recon = torch::full({2, 1, 28, 28}, 0.1, torch::kFloat64);
  auto code = torch::full({2, 64}, 0.25, torch::kFloat64);
  const auto l1 = SparseLoss(0.5, 0.1, Penalty::kL1)(recon, input, code);
  EXPECT_NEAR(l1.penalty.item<double>(), 64 * 0.25, 1e-12);  // sum_j mean_i |h_ij|
  EXPECT_NEAR(l1.total.item<double>(), 0.01 + 0.5 * 16, 1e-12);
  const auto none = SparseLoss(0.5, 0.1, Penalty::kNone)(recon, input, code);
  EXPECT_NEAR(none.total.item<double>(), 0.01, 1e-12);
  EXPECT_GT(none.kl.item<double>(), 0.0);  // still reported
  EXPECT_THROW(parse_penalty("l2"), std::invalid_argument);
  EXPECT_EQ(penalty_name(parse_penalty("l1")), "l1");
}

TEST(Eval, MetricsFollowTheirDefinitionsAndIgnoreBatchSize) {
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(37, 2);
  SparseAutoencoder model;
  const torch::Device cpu(torch::kCPU);
  const SparseLoss loss_fn(/*beta=*/0.1, /*rho=*/0.05);
  const auto m = evaluate(model, data, loss_fn, /*batch_size=*/8, cpu);

  // The same numbers from one big forward pass, written out from the definitions.
  torch::NoGradGuard no_grad;
  const auto images = to_float_batch(data.images).to(torch::kFloat64);
  model->to(torch::kFloat64);
  const auto out = model->forward(images);
  const double sse = (out.reconstruction - images).pow(2).sum().item<double>();
  const double mse = sse / (37.0 * 784);
  const auto rho_hat = out.code.mean(0);
  const double kl = (0.05 * torch::log(0.05 / rho_hat) + 0.95 * torch::log(0.95 / (1 - rho_hat)))
                        .sum()
                        .item<double>();
  const double sst = (images - images.mean(0, true)).pow(2).sum().item<double>();
  EXPECT_EQ(m.images, 37);
  EXPECT_NEAR(m.mse, mse, 1e-6 * mse);
  EXPECT_NEAR(m.kl, kl, 1e-5 * kl);
  EXPECT_NEAR(m.loss, m.mse + 0.1 * m.kl, 1e-12);
  EXPECT_NEAR(m.psnr, 10 * std::log10(1 / m.mse), 1e-9);
  EXPECT_NEAR(m.explained_variance, 1 - sse / sst, 1e-5);
  EXPECT_NEAR(m.l1, rho_hat.sum().item<double>(), 1e-5);
  EXPECT_NEAR(m.mean_rho_hat, rho_hat.mean().item<double>(), 1e-6);
  EXPECT_NEAR(m.mean_l0, out.code.gt(0.5).sum().item<double>() / 37, 1e-12);
  EXPECT_EQ(m.dead_units, std::get<0>(out.code.max(0)).le(0.5).sum().item<int64_t>());
  EXPECT_EQ(m.far_units, rho_hat.gt(0.5).sum().item<int64_t>());
  ASSERT_EQ(m.rho_hat.size(), 64u);
  EXPECT_NEAR(m.rho_hat[5], rho_hat[5].item<double>(), 1e-6);
  EXPECT_NEAR(m.unit_kl[5], kl_per_unit(rho_hat, 0.05)[5].item<double>(), 1e-5);

  model->to(torch::kFloat32);
  const auto whole = evaluate(model, data, loss_fn, /*batch_size=*/37, cpu);
  EXPECT_NEAR(whole.mse, m.mse, 1e-6 * m.mse);
  EXPECT_NEAR(whole.kl, m.kl, 1e-5 * m.kl);
}

TEST(Eval, HandComputableModel) {
  // Zero weights make every code and pixel a constant set by the biases alone:
  // unit 0 sits at 0.9 on every image, the other 63 at sigmoid(-4.6) ~ 0.00995; the output is 0.5.
  SparseAutoencoder model;
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.zero_();
    model->enc3->bias.fill_(std::log(0.01 / 0.99));
    model->enc3->bias[0] = std::log(0.9 / 0.1);
  }
  const Dataset data = synthetic_dataset(20, 3);
  const auto m = evaluate(model, data, SparseLoss(/*beta=*/0.5, /*rho=*/0.01), 7, torch::kCPU);
  const auto x = to_float_batch(data.images).to(torch::kFloat64);
  EXPECT_NEAR(m.mse, (x - 0.5).pow(2).mean().item<double>(), 1e-7);
  EXPECT_NEAR(m.rho_hat[0], 0.9, 1e-6);
  EXPECT_NEAR(m.rho_hat[1], 0.01, 1e-6);
  EXPECT_NEAR(m.mean_rho_hat, (0.9 + 63 * 0.01) / 64, 1e-6);
  EXPECT_EQ(m.dead_units, 63);  // never above 0.5
  EXPECT_EQ(m.far_units, 1);    // 0.9 > 10 * 0.01
  EXPECT_DOUBLE_EQ(m.mean_l0, 1.0);
  const double kl0 = 0.01 * std::log(0.01 / 0.9) + 0.99 * std::log(0.99 / 0.1);
  EXPECT_NEAR(m.unit_kl[0], kl0, 1e-5);
  EXPECT_NEAR(m.unit_kl[1], 0.0, 1e-9);
  EXPECT_NEAR(m.kl, kl0, 1e-5);
  EXPECT_NEAR(m.loss, m.mse + 0.5 * m.kl, 1e-12);
  // A constant output explains none of the variance around the mean image (it is worse).
  const double sst = (x - x.mean(0, true)).pow(2).sum().item<double>();
  EXPECT_NEAR(m.explained_variance, 1 - (x - 0.5).pow(2).sum().item<double>() / sst, 1e-6);
}

TEST(Probe, SeparableCodesAreClassifiedPerfectly) {
  // Class c lights unit c: a linear probe must reach 100%.
  const auto labels = torch::arange(500) % 10;
  auto codes = torch::full({500, 64}, 0.05);
  for (int64_t i = 0; i < 500; ++i) codes[i][labels[i].item<int64_t>()] = 0.9;
  const auto result = linear_probe(codes, labels, codes.slice(0, 0, 100), labels.slice(0, 0, 100));
  EXPECT_DOUBLE_EQ(result.test_accuracy, 1.0);
  // Codes that carry nothing: chance level.
  const auto noise = torch::rand({500, 64});
  const auto chance = linear_probe(noise, labels, torch::rand({500, 64}), labels);
  EXPECT_LT(chance.test_accuracy, 0.25);
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
  for (auto spoil : std::vector<std::function<void(TrainOptions&)>>{
           [](TrainOptions& t) { t.lr = -1; }, [](TrainOptions& t) { t.rho = 1.5; },
           [](TrainOptions& t) { t.weight_decay = -1; },
           [](TrainOptions& t) { t.beta_warmup = -5; },
           [](TrainOptions& t) { t.penalty = "l2"; }}) {
    TrainOptions bad;
    spoil(bad);
    EXPECT_THROW(validate(bad), std::invalid_argument);
  }
  EXPECT_NO_THROW(validate(TrainOptions{}));
}

}  // namespace
}  // namespace sae
