#include <gtest/gtest.h>

#include "sae/train/eval.hpp"
#include "test_util.hpp"

#include <cmath>
#include <vector>

namespace sae {
namespace {

TEST(Eval, MetricsFollowTheirDefinitionsAndIgnoreBatchSize) {
  torch::manual_seed(0);
  const Dataset data = test::synthetic_dataset(37, 2);
  SparseAutoencoder model;
  const torch::Device cpu(torch::kCPU);
  const SparseLoss loss_fn(/*beta=*/0.1, /*rho=*/0.05);
  const Evaluation evaluation = evaluate(model, data, loss_fn, /*batch_size=*/8, cpu);
  const EvalMetrics& m = evaluation.metrics;

  // The codes are every image's, in order, on the CPU: the same as encode_all gives.
  const auto codes = encode_all(model, data, /*batch_size=*/8, cpu);
  ASSERT_EQ(evaluation.codes.sizes().vec(), (std::vector<int64_t>{37, kCodeSize}));
  EXPECT_EQ(evaluation.codes.device().type(), torch::kCPU);
  EXPECT_EQ(evaluation.codes.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(evaluation.codes, codes));
  // In batches of another size, up to float rounding.
  EXPECT_TRUE(torch::allclose(encode_all(model, data, /*batch_size=*/37, cpu), codes, 1e-5, 1e-6));

  // The same numbers from one big forward pass, written out from the definitions.
  torch::NoGradGuard no_grad;
  const auto images = to_float_batch(data.images).to(torch::kFloat64);
  model->to(torch::kFloat64);
  const auto out = model->forward(images);
  EXPECT_TRUE(torch::allclose(out.code.to(torch::kFloat32), evaluation.codes, 1e-5, 1e-6));
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
  // The active units alone: the code with every unit at or below 0.5 zeroed, decoded.
  const auto active_code = out.code * out.code.gt(0.5);
  const double thresholded =
      (model->decode(active_code) - images).pow(2).sum().item<double>() / (37.0 * 784);
  EXPECT_NEAR(m.thresholded_mse, thresholded, 1e-5 * thresholded);
  // FVU: over the MSE of predicting every image by the mean image.
  const double mean_image_mse = (images - images.mean(0, true)).pow(2).mean().item<double>();
  EXPECT_NEAR(m.fvu, mse / mean_image_mse, 1e-5 * m.fvu);
  EXPECT_NEAR(m.thresholded_fvu, thresholded / mean_image_mse, 1e-5 * m.thresholded_fvu);
  // A fresh model's code is mixed, some units on and some off, so the mask changes the image.
  const auto off = out.code.le(0.5).sum().item<int64_t>();
  EXPECT_GT(off, 0);
  EXPECT_LT(off, out.code.numel());
  EXPECT_NE(m.thresholded_mse, m.mse);
  ASSERT_EQ(m.rho_hat.size(), 64u);
  EXPECT_NEAR(m.rho_hat[5], rho_hat[5].item<double>(), 1e-6);
  EXPECT_NEAR(m.unit_kl[5], kl_per_unit(rho_hat, 0.05)[5].item<double>(), 1e-5);

  model->to(torch::kFloat32);
  const auto whole = evaluate(model, data, loss_fn, /*batch_size=*/37, cpu).metrics;
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
  const Dataset data = test::synthetic_dataset(20, 3);
  const Evaluation evaluation =
      evaluate(model, data, SparseLoss(/*beta=*/0.5, /*rho=*/0.01), 7, torch::kCPU);
  const EvalMetrics& m = evaluation.metrics;
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
  // Every image has the same code: unit 0 at 0.9, the others at 0.01.
  auto expected = torch::full({20, kCodeSize}, 0.01);
  expected.select(1, 0).fill_(0.9);
  EXPECT_TRUE(torch::allclose(evaluation.codes, expected, 0.0, 1e-6));
  EXPECT_TRUE(torch::equal(evaluation.codes, encode_all(model, data, 7, torch::kCPU)));
}

/// The MSE of predicting every image of `data` by their mean image, from the pixels alone.
double mean_image_mse(const Dataset& data) {
  const auto x = to_float_batch(data.images).to(torch::kFloat64);
  return (x - x.mean(0, true)).pow(2).mean().item<double>();
}

TEST(Eval, AReluCodeIsActiveAboveZeroSoItsThresholdedMseIsItsMse) {
  torch::manual_seed(0);
  const Dataset data = test::synthetic_dataset(37, 2);
  SparseAutoencoder model(CodeSpec{CodeKind::kRelu});
  const EvalMetrics m =
      evaluate(model, data, SparseLoss(0.1, 0.05, Penalty::kL1), /*batch_size=*/8, torch::kCPU)
          .metrics;
  const auto codes = encode_all(model, data, /*batch_size=*/8, torch::kCPU);  // (37, 64)
  // A fresh relu code has zeros and small positive values: the sigmoid's 0.5 rule would zero
  // these, and count fewer active units.
  EXPECT_TRUE(codes.eq(0).any().item<bool>());
  EXPECT_TRUE(codes.gt(0).logical_and(codes.le(0.5)).any().item<bool>());
  // Nothing is left to zero: exactly the same error.
  EXPECT_EQ(m.thresholded_mse, m.mse);
  EXPECT_EQ(m.thresholded_fvu, m.fvu);
  EXPECT_NEAR(m.fvu, m.mse / mean_image_mse(data), 1e-9 * m.fvu);
  EXPECT_NEAR(m.mean_l0, codes.gt(0).sum().item<double>() / 37, 1e-12);
  EXPECT_EQ(m.dead_units, std::get<0>(codes.max(0)).le(0).sum().item<int64_t>());
}

TEST(Eval, ATopKCodeKeepsAtMostKUnitsAndL0CountsTheNonzeroOnes) {
  torch::manual_seed(0);
  const Dataset data = test::synthetic_dataset(37, 2);
  SparseAutoencoder model(CodeSpec{CodeKind::kTopK, 8});
  const Evaluation evaluation =
      evaluate(model, data, SparseLoss(0.0, 0.05, Penalty::kNone), /*batch_size=*/8, torch::kCPU);
  const EvalMetrics& m = evaluation.metrics;
  const auto& codes = evaluation.codes;  // (37, 64)
  EXPECT_LE(m.mean_l0, 8.0);
  EXPECT_GT(m.mean_l0, 0.0);
  EXPECT_NEAR(m.mean_l0, codes.ne(0).sum().item<double>() / 37, 1e-12);
  EXPECT_TRUE(codes.ne(0).sum(1).le(8).all().item<bool>());
  EXPECT_EQ(m.dead_units, std::get<0>(codes.max(0)).le(0).sum().item<int64_t>());
  EXPECT_EQ(m.thresholded_mse, m.mse);
  EXPECT_NEAR(m.fvu, m.mse / mean_image_mse(data), 1e-9 * m.fvu);
}

TEST(Eval, HandComputableCodesCountTheirUnitsByTheirKindsThreshold) {
  // Zero weights: the code is enc3's bias through the activation, the same on every image, and
  // the output is 0.5 whatever the code. Units 0..9 sit at z = 0.1 .. 1.0, the others at -1.
  const auto hand_model = [](CodeSpec spec) {
    SparseAutoencoder model(spec);
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.zero_();
    model->enc3->bias.fill_(-1.0);
    for (int j = 0; j < 10; ++j) model->enc3->bias[j] = 0.1 * (j + 1);
    return model;
  };
  const Dataset data = test::synthetic_dataset(20, 3);
  const SparseLoss loss(0.0, 0.05, Penalty::kNone);
  const auto x = to_float_batch(data.images).to(torch::kFloat64);
  const double constant_mse = (x - 0.5).pow(2).mean().item<double>();

  // relu: units 0..9 are active, all of them below 0.5 but the last five.
  SparseAutoencoder relu = hand_model(CodeSpec{CodeKind::kRelu});
  const EvalMetrics r = evaluate(relu, data, loss, 7, torch::kCPU).metrics;
  EXPECT_DOUBLE_EQ(r.mean_l0, 10.0);  // the 0.5 rule would say 5
  EXPECT_EQ(r.dead_units, 54);        // and 59
  EXPECT_NEAR(r.mse, constant_mse, 1e-7);
  EXPECT_EQ(r.thresholded_mse, r.mse);

  // topk, k 8: the eight largest, units 2..9.
  SparseAutoencoder topk = hand_model(CodeSpec{CodeKind::kTopK, 8});
  const Evaluation t = evaluate(topk, data, loss, 7, torch::kCPU);
  EXPECT_DOUBLE_EQ(t.metrics.mean_l0, 8.0);
  EXPECT_EQ(t.metrics.dead_units, 56);
  auto expected = torch::zeros({20, kCodeSize});
  for (int j = 2; j < 10; ++j) expected.select(1, j).fill_(0.1 * (j + 1));
  EXPECT_TRUE(torch::allclose(t.codes, expected, 0.0, 1e-6));
  EXPECT_EQ(t.metrics.thresholded_mse, t.metrics.mse);
  EXPECT_NEAR(t.metrics.fvu, constant_mse / mean_image_mse(data), 1e-6);
}

}  // namespace
}  // namespace sae
