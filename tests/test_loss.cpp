#include <gtest/gtest.h>

#include "sae/base/errors.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"
#include "sae/train/run_config.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace sae {
namespace {

TEST(Loss, KlMatchesHandComputedValue) {
  // rho = 0.01; rho_hat = (0.5, 0.01, 0.2):
  //   KL(0.01 || 0.5)  = 0.01 ln(0.01/0.5) + 0.99 ln(0.99/0.5) = -0.039120 + 0.676266 = 0.637146
  //   KL(0.01 || 0.01) = 0
  //   KL(0.01 || 0.2)  = 0.01 ln(0.01/0.2) + 0.99 ln(0.99/0.8) = -0.029957 + 0.210962 = 0.181004
  const auto rho_hat = torch::tensor({0.5, 0.01, 0.2}, torch::kFloat64);
  EXPECT_NEAR(kl_sparsity(rho_hat, 0.01).item<double>(), 0.637146 + 0.181004, 2e-6);
}

TEST(Loss, KlIsClampedToStayFinite) {
  const auto kl = kl_sparsity(torch::tensor({0.0, 1.0}, torch::kFloat64), 0.01).item<double>();
  EXPECT_TRUE(std::isfinite(kl));
  EXPECT_GT(kl, 10.0);
}

TEST(Loss, TotalIsMsePlusBetaKlOfTheBatchMeanCode) {
  const SparseLoss loss(/*beta=*/0.5, /*rho=*/0.1);
  const auto input = torch::zeros({2, 1, 28, 28}, torch::kFloat64);
  const auto recon = torch::full({2, 1, 28, 28}, 0.1, torch::kFloat64);
  auto code = torch::full({2, kCodeSize}, 0.1, torch::kFloat64);
  code[0][0] = 0.3;  // unit 0's mean is 0.2; every other unit sits at rho
  SparseAutoencoder model;
  const auto terms = loss(*model, {recon, code, code}, input);
  const double kl0 = 0.1 * std::log(0.1 / 0.2) + 0.9 * std::log(0.9 / 0.8);
  EXPECT_NEAR(terms.mse.item<double>(), 0.01, 1e-12);
  EXPECT_NEAR(terms.kl.item<double>(), kl0, 1e-12);
  EXPECT_NEAR(terms.total.item<double>(), 0.01 + 0.5 * kl0, 1e-12);
}

TEST(Loss, RejectsRhoOutsideOpenUnitIntervalAndNegativeBeta) {
  EXPECT_THROW(SparseLoss(0.005, 0.0), UsageError);
  EXPECT_THROW(SparseLoss(0.005, 1.0), UsageError);
  EXPECT_THROW(SparseLoss(0.005, -0.5), UsageError);
  EXPECT_THROW(SparseLoss(-1e-3, 0.01), UsageError);
  EXPECT_NO_THROW(SparseLoss(0.0, 0.5));
}

TEST(Loss, RejectsRhoThatRoundsToZeroOrOneInFloat32AndNonFiniteBeta) {
  // The loss is computed in float32: a rho that rounds to 0 or 1 there makes the KL infinite.
  auto message_of = [](double beta, double rho) -> std::string {
    try {
      check_sparsity_params(beta, rho);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message_of(0.005, 1e-50).find("rho"), std::string::npos);
  EXPECT_NE(message_of(0.005, 1 - 1e-12).find("rho"), std::string::npos);
  EXPECT_NE(message_of(0.005, std::nan("")).find("rho"), std::string::npos);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_NE(message_of(inf, 0.01).find("beta"), std::string::npos);
  EXPECT_NE(message_of(std::nan(""), 0.01).find("beta"), std::string::npos);
  EXPECT_THROW(SparseLoss(inf, 0.01), UsageError);
  EXPECT_THROW(SparseLoss(0.005, 1e-50), UsageError);
  // The smallest and largest rho that float32 keeps inside (0, 1) are fine.
  EXPECT_EQ(message_of(0.005, 1e-30), "");
  EXPECT_EQ(message_of(0.005, 1 - 1e-7), "");
  EXPECT_EQ(message_of(0.0, 0.5), "");
}

TEST(Loss, L1AndNonePenalties) {
  const auto input = torch::zeros({2, 1, 28, 28}, torch::kFloat64);
  const auto recon = torch::full({2, 1, 28, 28}, 0.1, torch::kFloat64);
  auto code = torch::full({2, 64}, 0.25, torch::kFloat64);
  SparseAutoencoder model;
  const AutoencoderOutput out{recon, code, code};
  const auto l1 = SparseLoss(0.5, 0.1, Penalty::kL1)(*model, out, input);
  EXPECT_NEAR(l1.penalty.item<double>(), 64 * 0.25, 1e-12);  // sum_j mean_i |h_ij|
  EXPECT_NEAR(l1.total.item<double>(), 0.01 + 0.5 * 16, 1e-12);
  const auto none = SparseLoss(0.5, 0.1, Penalty::kNone)(*model, out, input);
  EXPECT_NEAR(none.total.item<double>(), 0.01, 1e-12);
  EXPECT_GT(none.kl.item<double>(), 0.0);  // still reported
  try {
    parse_penalty("l2");
    FAIL() << "l2 was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'l2'"), std::string::npos) << e.what();
  }
  for (const Penalty p : {Penalty::kKl, Penalty::kL1, Penalty::kNone}) {
    EXPECT_EQ(parse_penalty(penalty_name(p)), p);
  }
  EXPECT_EQ(penalty_name(parse_penalty("l1")), "l1");
}

// The sparsity seam: each kind's CPU forms against autograd of its torch form, in float32 as the
// network runs them. rho_hat_j here takes ordinary values, rho itself, the clamp's bounds and the
// floats just outside them, 0 and 1: outside the clamp the KL passes no gradient, in either form.
std::vector<float> rho_hats_across_the_clamp() {
  const auto low = static_cast<float>(kRhoHatEps), high = static_cast<float>(1.0 - kRhoHatEps);
  std::vector<float> r = {0.0f, std::nextafter(low, 0.0f),  low,  0.05f, 0.5f,
                          high, std::nextafter(high, 1.0f), 1.0f, 1e-8f};
  for (int64_t j = static_cast<int64_t>(r.size()); j < kCodeSize; ++j) {
    r.push_back(static_cast<float>(j) / (kCodeSize + 1));  // ordinary values in (0, 1)
  }
  return r;  // (64)
}

TEST(Sparsity, EveryKindsCpuPenaltyAndGradientMatchAutogradOfItsTorchForm) {
  constexpr double kRho = 0.05;
  const std::vector<float> values = rho_hats_across_the_clamp();
  for (const Sparsity* kind : sparsity_kinds()) {
    const std::string name = kind->name();
    const auto rho_hat = torch::tensor(values).requires_grad_(true);  // (64) float
    const auto penalty = kind->penalty(rho_hat, kRho);
    if (penalty.requires_grad()) penalty.backward();  // "none" is a constant
    const auto expected =
        rho_hat.grad().defined() ? rho_hat.grad().to(torch::kFloat64) : torch::zeros({kCodeSize});
    const std::vector<double> grad = kind->penalty_grad_cpu(values, kRho);
    ASSERT_EQ(grad.size(), values.size()) << name;
    for (size_t j = 0; j < grad.size(); ++j) {
      const double want = expected[static_cast<int64_t>(j)].item<double>();
      EXPECT_NEAR(grad[j], want, 1e-5 * std::max(1.0, std::abs(want)))
          << name << ": d penalty / d rho_hat at " << values[j];
    }
    const double want = penalty.item<double>();
    EXPECT_NEAR(kind->penalty_cpu(values, kRho), want, 1e-5 * std::max(1.0, std::abs(want)))
        << name;
  }
  // The KL's clamp, spelled out: no gradient outside [kRhoHatEps, 1 - kRhoHatEps], some inside.
  const auto kl = sparsity_of(Penalty::kKl).penalty_grad_cpu(values, kRho);
  EXPECT_EQ(kl[0], 0.0);
  EXPECT_EQ(kl[1], 0.0);
  EXPECT_LT(kl[2], -1e4);  // -rho / kRhoHatEps + ...
  EXPECT_GT(kl[5], 1e5);   // (1 - rho) / kRhoHatEps - ...
  EXPECT_EQ(kl[6], 0.0);
  EXPECT_EQ(kl[7], 0.0);
}

// The code seam: each kind's CPU activation, its backward (theta's estimator included) and its
// own penalty against autograd of its torch form. z is rounded to halves, so that many values tie:
// TopK and BatchTopK must keep the same units in both forms (the lower index first).
TEST(Code, EveryKindsCpuFormsMatchAutogradWithTies) {
  torch::manual_seed(4);
  constexpr int64_t kRows = 5;
  const auto z0 = torch::round(4 * torch::randn({kRows, kCodeSize})) / 2;  // (B, 64), ties
  const auto upstream = torch::randn({kRows, kCodeSize});                  // d loss / d h
  for (const Code* code : code_kinds()) {
    const std::string name = code->name();
    SparseAutoencoder model(CodeSpec{code->kind(), /*k=*/5, /*bandwidth=*/0.6});
    const CodeTensors& tensors = model->code_tensors();
    if (tensors.theta.defined()) {
      torch::NoGradGuard no_grad;
      tensors.theta.copy_(torch::linspace(-0.2, 2.7, kCodeSize));  // a few below 0
    }
    const auto z = z0.clone().requires_grad_(true);
    const auto h = code->activation(z, model->code_spec(), tensors, /*training=*/true);
    auto loss = (h * upstream).sum();
    const auto own = code->own_penalty(z, model->code_spec(), tensors);
    constexpr double kScale = 0.7;  // the weight on the own penalty
    if (own.defined()) loss = loss + kScale * own;
    loss.backward();

    if (tensors.threshold.defined()) tensors.threshold.zero_();  // training moved it once
    auto h_cpu = torch::empty_like(z0);
    code->activation_cpu({z0.data_ptr<float>(), h_cpu.data_ptr<float>(), kRows}, model->code_spec(),
                         tensors, /*training=*/true);
    EXPECT_TRUE(torch::equal(h_cpu, h.detach())) << name << ": the units kept";
    auto d = upstream.clone();
    auto d_theta = torch::zeros({kCodeSize});
    code->activation_backward_cpu(z0.data_ptr<float>(), h_cpu.data_ptr<float>(),
                                  d.data_ptr<float>(), kRows, model->code_spec(), tensors,
                                  d_theta.data_ptr<float>());
    const double own_sum =
        code->own_penalty_cpu(z0.data_ptr<float>(), kRows, model->code_spec(), tensors,
                              kScale / kRows, d_theta.data_ptr<float>());
    EXPECT_TRUE(torch::allclose(d, z.grad(), /*rtol=*/1e-5, /*atol=*/1e-7)) << name;
    if (own.defined()) EXPECT_NEAR(own_sum / kRows, own.item<double>(), 1e-6) << name;
    if (tensors.theta.defined()) {
      const auto expected = tensors.theta.grad();
      EXPECT_GT(expected.abs().sum().item<double>(), 0.0) << name << ": theta learns here";
      EXPECT_TRUE(torch::allclose(d_theta, expected, /*rtol=*/1e-5, /*atol=*/1e-6)) << name;
    }
  }
}

// TopK's ties: of equal z, the lower unit index is kept, in both forms.
TEST(Code, TopKBreaksTiesByTheLowerIndex) {
  auto z = torch::zeros({1, kCodeSize});
  z[0][3] = 1.0;
  z[0][10] = 0.5;
  z[0][20] = 0.5;
  z[0][30] = 0.5;
  const auto mask = topk_mask(z, 3);
  const auto kept = mask.nonzero().select(1, 1).contiguous();
  EXPECT_EQ(std::vector<int64_t>(kept.data_ptr<int64_t>(), kept.data_ptr<int64_t>() + kept.numel()),
            (std::vector<int64_t>{3, 10, 20}));
  auto h = torch::empty_like(z);
  code_of(CodeKind::kTopK)
      .activation_cpu({z.data_ptr<float>(), h.data_ptr<float>(), 1}, CodeSpec{CodeKind::kTopK, 3},
                      {}, true);
  EXPECT_TRUE(torch::equal(h, z * mask));
}

TEST(Code, TheTableNamesEachKindOnce) {
  std::set<std::string> names;
  for (const Code* code : code_kinds()) {
    EXPECT_TRUE(names.insert(code->name()).second) << code->name();
    EXPECT_EQ(&code_of(code->kind()), code);
    EXPECT_EQ(parse_code(code->name()), code->kind());
    EXPECT_NE(std::string(code_help()).find(std::string(code->name()) + " (" + code->help()),
              std::string::npos);
  }
  EXPECT_THROW(parse_code("dense"), UsageError);
}

TEST(Sparsity, TheTableNamesEachKindOnceAndBuildsTheFlagsHelpAndError) {
  std::set<std::string> names;
  for (const Sparsity* kind : sparsity_kinds()) {
    EXPECT_TRUE(names.insert(kind->name()).second) << kind->name();
    EXPECT_EQ(&sparsity_of(kind->kind()), kind);
    EXPECT_EQ(parse_penalty(kind->name()), kind->kind());
    EXPECT_NE(std::string(penalty_help()).find(std::string(kind->name()) + " (" + kind->help()),
              std::string::npos);
  }
  EXPECT_EQ(names, (std::set<std::string>{"kl", "l1", "none"}));
  EXPECT_EQ(std::string(penalty_help()),
            "what beta weighs: kl (the original model's), l1 (sum_j mean_i |h_ij|, the L1 "
            "variant) or none (a plain autoencoder)");
  try {
    parse_penalty("KL ");
    FAIL() << "'KL ' was accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "unknown penalty 'KL ': use kl, l1 or none");
  }
}

TEST(Sparsity, RunConfigAndTheLossShareOneRuleForRhoAndBeta) {
  const auto throws = [](const std::function<void()>& check) {
    try {
      check();
    } catch (const UsageError&) {
      return true;
    }
    return false;
  };
  for (const double rho : {0.01, 1e-30, 1 - 1e-7, 0.0, 1.0, 1e-50, 1 - 1e-12, std::nan("")}) {
    RunConfig config;
    config.rho = rho;
    EXPECT_EQ(throws([&] { check_sparsity_params(0.005, rho); }), !valid_rho(rho)) << rho;
    EXPECT_EQ(throws([&] { validate(config); }), !valid_rho(rho)) << rho;
  }
  for (const double beta : {0.0, 0.5, -1e-3, std::numeric_limits<double>::infinity()}) {
    RunConfig config;
    config.beta = beta;
    EXPECT_EQ(throws([&] { check_sparsity_params(beta, 0.01); }), !valid_beta(beta)) << beta;
    EXPECT_EQ(throws([&] { validate(config); }), !valid_beta(beta)) << beta;
  }
  EXPECT_TRUE(valid_beta(0.0));
  EXPECT_FALSE(valid_beta(-1e-3));
}

TEST(Loss, GradientMatchesFiniteDifferencesInDouble) {
  torch::manual_seed(1);
  SparseAutoencoder model;
  model->to(torch::kFloat64);
  const auto images = torch::rand({3, 1, 28, 28}, torch::kFloat64);
  // A large beta so that the KL term's gradient is not drowned by the MSE's.
  const SparseLoss loss_fn(/*beta=*/0.5, /*rho=*/0.05);
  auto loss_of = [&] {
    const auto out = model->forward(images);
    return loss_fn(*model, out, images).total;
  };
  model->zero_grad();
  loss_of().backward();

  torch::NoGradGuard no_grad;
  constexpr double kStep = 1e-6;
  for (const auto& p : model->named_parameters()) {
    auto flat = p.value().view({-1});
    const auto grad = p.value().grad().view({-1});
    for (int64_t i : {int64_t{0}, flat.numel() / 2, flat.numel() - 1}) {
      const double saved = flat[i].item<double>();
      flat[i] = saved + kStep;
      const double up = loss_of().item<double>();
      flat[i] = saved - kStep;
      const double down = loss_of().item<double>();
      flat[i] = saved;
      const double numeric = (up - down) / (2 * kStep);
      const double analytic = grad[i].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-5 * std::abs(numeric)) << p.key() << "[" << i << "]";
    }
  }
}

}  // namespace
}  // namespace sae
