// The hand-written CPU step against autograd through the plain torch::nn layers (the reference):
// the same loss, the same gradient for every parameter and the same parameters after Adam steps,
// for every kind of code (AuxK's pass and jumprelu's threshold included); and its forward,
// encoder and decoder, alone or through Inference, against the same layers.
// Tolerance: |step - reference| <= 1e-5 * max(1e-2, max |reference|) per tensor, in float32: a
// relative bound, absolute near 0 (KL terms and some gradients cancel to nearly nothing).

#include <gtest/gtest.h>

#include "sae/model/cpu_step.hpp"
#include "sae/model/inference.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"
#include "sae/train/adam.hpp"
#include "sae/train/train.hpp"

#include <map>
#include <tuple>

namespace sae {
namespace {

constexpr double kTolerance = 1e-5;
constexpr double kNearZero = 1e-2;
constexpr double kAdamConditioned = 1e-6;  // 100 * Adam's eps: see the Adam test

void expect_close(const torch::Tensor& step, const torch::Tensor& reference,
                  const std::string& what) {
  ASSERT_EQ(step.sizes(), reference.sizes()) << what;
  if (reference.numel() == 0) return;  // e.g. no element of a parameter is well conditioned
  const double scale = std::max(kNearZero, reference.abs().max().item<double>());
  const double diff = (step - reference).abs().max().item<double>();
  EXPECT_LE(diff, kTolerance * scale) << what << ": max difference " << diff << ", scale " << scale;
}

void expect_close(double step, double reference, const std::string& what) {
  const double scale = std::max(kNearZero, std::abs(reference));
  EXPECT_LE(std::abs(step - reference), kTolerance * scale)
      << what << ": " << step << " vs " << reference;
}

/// A batch whose images differ in brightness, so that rho_hat differs from unit to unit, and
/// some pixels sit at exactly 0 and 1 as MNIST's do.
torch::Tensor varied_images(int64_t batch) {
  torch::manual_seed(7);
  auto images = torch::rand({batch, 1, 28, 28});
  const auto brightness = torch::linspace(0.2, 1.0, batch).view({batch, 1, 1, 1});
  images = (images * brightness * 1.4 - 0.2).clamp(0.0, 1.0);
  return images;
}

/// One kind of code with the settings its loss reads: each case of the equivalence tests.
struct CodeCase {
  const char* name;
  CodeSpec spec;
  Penalty penalty = Penalty::kNone;
  CodeTerms terms = {};
  bool half_dead = false;  // units 0, 2, 4, ... dead, so that AuxK's pass runs
};

const std::vector<CodeCase>& code_cases() {
  using K = CodeKind;
  static const std::vector<CodeCase> cases = {
      {"sigmoid_kl", {K::kSigmoid}, Penalty::kKl},
      {"sigmoid_l1", {K::kSigmoid}, Penalty::kL1},
      {"sigmoid_none", {K::kSigmoid}, Penalty::kNone},
      {"relu_l1", {K::kRelu}, Penalty::kL1},
      {"topk", {K::kTopK, /*k=*/8}},
      {"topk_auxk",
       {K::kTopK, /*k=*/4},
       Penalty::kNone,
       {0.0, /*aux_k=*/6, /*aux_coef=*/0.5},
       true},
      {"batchtopk", {K::kBatchTopK, /*k=*/8}},
      {"batchtopk_auxk", {K::kBatchTopK, 4}, Penalty::kNone, {0.0, 6, 0.5}, true},
      // A wide window and a large lambda, so that theta's estimators see many z.
      {"jumprelu", {K::kJumpRelu, 0, /*bandwidth=*/0.2}, Penalty::kNone, {/*l0_coef=*/0.01}},
      {"jumprelu_auxk", {K::kJumpRelu, 0, 0.2}, Penalty::kNone, {0.01, 6, 0.5}, true},
  };
  return cases;
}

SparseAutoencoder model_with_seed(uint64_t seed, const CodeSpec& spec = {}) {
  torch::manual_seed(seed);
  SparseAutoencoder model(spec);
  if (spec.kind == CodeKind::kJumpRelu) {
    // theta spread across the z of these images, rather than all at SAELens's 0.001.
    torch::NoGradGuard no_grad;
    model->code_tensors().theta.copy_(torch::linspace(-0.05, 0.4, kCodeSize));  // one below 0
  }
  return model;
}

/// The case's loss: a large beta, so that the penalty shows.
SparseLoss loss_of(const CodeCase& c) {
  const SparseLoss loss(/*beta=*/0.5, /*rho=*/0.05, c.penalty, c.terms);
  if (!c.half_dead) return loss;
  std::vector<uint8_t> dead(kCodeSize, 0);
  for (int64_t j = 0; j < kCodeSize; j += 2) dead[j] = 1;
  return loss.with_dead_units(dead);
}

/// The reference: autograd through the torch::nn layers and SparseLoss.
StepLoss reference_gradients(SparseAutoencoder& model, const torch::Tensor& images,
                             const SparseLoss& loss_fn) {
  model->zero_grad();
  const auto out = model->forward(images);
  const auto terms = loss_fn(*model, out, images);
  terms.total.backward();
  StepLoss loss;
  loss.loss = terms.total.item<double>();
  loss.mse = terms.mse.item<double>();
  loss.kl = terms.kl.item<double>();
  return loss;
}

using Case = std::tuple<int64_t, size_t>;  // batch size, index into code_cases()
class CpuStepEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(CpuStepEquivalence, LossAndEveryGradientMatchAutograd) {
  const auto [batch, index] = GetParam();
  const CodeCase& c = code_cases()[index];
  const auto images = varied_images(batch);
  const SparseLoss loss_fn = loss_of(c);

  auto reference = model_with_seed(3, c.spec);
  const auto expected = reference_gradients(reference, images, loss_fn);
  auto model = model_with_seed(3, c.spec);
  CpuStep step(model);
  const auto got = step.forward_backward(images, loss_fn);

  expect_close(got.loss, expected.loss, "loss");
  expect_close(got.mse, expected.mse, "mse");
  expect_close(got.kl, expected.kl, "kl");
  const auto mine = model->named_parameters();
  const auto theirs = reference->named_parameters();
  for (const auto& p : theirs) {
    ASSERT_TRUE(mine[p.key()].grad().defined()) << p.key();
    expect_close(mine[p.key()].grad(), p.value().grad(), p.key() + " gradient");
  }
  // batchtopk's inference threshold moved alike in both.
  const auto buffers = reference->named_buffers();
  for (const auto& b : model->named_buffers()) expect_close(b.value(), buffers[b.key()], b.key());
}

TEST_P(CpuStepEquivalence, ForwardMatchesTheReference) {
  const auto [batch, index] = GetParam();
  const CodeCase& c = code_cases()[index];
  const auto images = varied_images(batch);
  auto model = model_with_seed(5, c.spec);
  if (c.spec.kind == CodeKind::kBatchTopK) {
    torch::NoGradGuard no_grad;
    model->code_tensors().threshold.fill_(0.05);  // as training leaves it, above 0
  }
  model->eval();
  CpuStep step(model);
  const auto got = step.forward(images);
  torch::NoGradGuard no_grad;
  const auto expected = model->forward(images);
  expect_close(got.reconstruction, expected.reconstruction, "reconstruction");
  expect_close(got.code, expected.code, "code");
  expect_close(step.encode(images), expected.code, "encode");
}

INSTANTIATE_TEST_SUITE_P(BatchesAndCodes, CpuStepEquivalence,
                         ::testing::Combine(::testing::Values(100, 37, 1),
                                            ::testing::Range(size_t{0}, code_cases().size())),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(code_cases()[std::get<1>(info.param)].name) +
                                  "_batch" + std::to_string(std::get<0>(info.param));
                         });

// With weight decay and beta warm-up, step by step: the same gradients, the same parameters after
// each Adam step. Before each step the reference's parameters are copied over, so that each step
// is compared alone. Adam moves a parameter by lr * g / (|g| + eps): where the gradient g (weight
// decay included) is within a few eps of 0, float rounding of g, however small, moves the result
// by up to lr. Those elements are held to that bound; all others to 1e-5.
class CpuStepAdam : public ::testing::TestWithParam<size_t> {};

TEST_P(CpuStepAdam, StepsWithWeightDecayAndWarmupMatchAutograd) {
  const CodeCase& c = code_cases()[GetParam()];
  RunConfig config;
  config.beta = 0.3;
  config.rho = 0.05;
  config.beta_warmup = 4;
  config.weight_decay = 1e-3;
  auto reference = model_with_seed(11, c.spec);
  auto model = model_with_seed(11, c.spec);
  auto reference_opt = make_optimizer(reference, config.lr, config.weight_decay);
  auto opt = make_optimizer(model, config.lr, config.weight_decay);
  CpuStep step(model);
  const auto mine = model->named_parameters();
  for (int64_t s = 1; s <= 3; ++s) {
    const std::string at = " at step " + std::to_string(s);
    {
      torch::NoGradGuard no_grad;
      for (const auto& p : reference->named_parameters()) mine[p.key()].copy_(p.value());
      const auto buffers = reference->named_buffers();
      for (const auto& b : model->named_buffers()) b.value().copy_(buffers[b.key()]);
    }
    const auto images = varied_images(50 + s);
    const auto base = loss_of(c);
    const auto loss_fn = base.with_beta(config.beta * std::min(1.0, s / 4.0));
    const auto expected = reference_gradients(reference, images, loss_fn);
    const auto got = step.forward_backward(images, loss_fn);
    expect_close(got.loss, expected.loss, "loss" + at);
    for (const auto& p : reference->named_parameters()) {
      expect_close(mine[p.key()].grad(), p.value().grad(), p.key() + " gradient" + at);
    }
    std::map<std::string, torch::Tensor> effective;  // what Adam sees: g + weight_decay * p
    for (const auto& p : reference->named_parameters()) {
      const double decay = p.value().dim() > 1 ? config.weight_decay : 0.0;
      effective[p.key()] = p.value().grad() + decay * p.value().detach();
    }
    reference_opt.step();
    fused_adam_step(opt);  // what training takes on the CPU
    for (const auto& p : reference->named_parameters()) {
      const auto conditioned = effective[p.key()].abs() > kAdamConditioned;
      expect_close(mine[p.key()].masked_select(conditioned), p.value().masked_select(conditioned),
                   p.key() + " after Adam" + at);
      EXPECT_LE((mine[p.key()] - p.value()).abs().max().item<double>(), config.lr)
          << p.key() + " after Adam" + at;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codes, CpuStepAdam, ::testing::Range(size_t{0}, code_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return std::string(code_cases()[info.param].name);
                         });

// The decoder alone, as the atoms use it. One CpuStep for every batch: its buffers, grown for the
// first, serve the smaller ones after.
TEST(CpuStep, DecodeMatchesTheReference) {
  auto model = model_with_seed(5);
  CpuStep step(model);
  for (const int64_t batch : {100, 37, 1}) {
    torch::manual_seed(13);
    const auto codes = torch::rand({batch, kCodeSize});  // (B, 64) in (0, 1), as a code
    const auto got = step.decode(codes);
    torch::NoGradGuard no_grad;
    expect_close(got, model->decode(codes), "decode of " + std::to_string(batch));
  }
}

// Inference, the one entry that reconstruct, inspect and eval use: on the CPU it is CpuStep, and
// it agrees with the torch::nn layers; the atoms' one-hot codes decode alike, too.
TEST(CpuStep, InferenceOnTheCpuMatchesTheReference) {
  const auto images = varied_images(37);
  auto model = model_with_seed(5);
  Inference network(model, torch::kCPU);
  const auto got = network.forward(images);
  const auto eye = torch::eye(kCodeSize);  // (64, 64): unit j alone at 1
  const auto atoms = network.decode(eye);
  EXPECT_FALSE(model->is_training());
  EXPECT_FALSE(got.code.requires_grad());
  torch::NoGradGuard no_grad;
  const auto expected = model->forward(images);
  expect_close(got.reconstruction, expected.reconstruction, "reconstruction");
  expect_close(got.code, expected.code, "code");
  expect_close(network.encode(images), expected.code, "encode");
  expect_close(atoms, model->decode(eye), "atoms");
  EXPECT_EQ(network.decode(torch::zeros({0, kCodeSize})).sizes(),
            (std::vector<int64_t>{0, 1, 28, 28}));
  EXPECT_THROW(network.decode(torch::rand({2, 10})), c10::Error);
}

// Two threads split the batch: the same result as one, within float rounding.
TEST(CpuStep, ThreadsSplitTheBatchWithoutChangingTheResult) {
  const auto images = varied_images(100);
  const SparseLoss loss_fn(0.5, 0.05, Penalty::kKl);
  const int previous = at::get_num_threads();
  auto one = model_with_seed(9);
  auto two = model_with_seed(9);
  at::set_num_threads(1);
  const auto single = CpuStep(one).forward_backward(images, loss_fn);
  at::set_num_threads(2);
  const auto split = CpuStep(two).forward_backward(images, loss_fn);
  at::set_num_threads(previous);
  expect_close(split.loss, single.loss, "loss");
  const auto theirs = one->named_parameters();
  for (const auto& p : two->named_parameters()) {
    expect_close(p.value().grad(), theirs[p.key()].grad(), p.key() + " gradient");
  }
}

}  // namespace
}  // namespace sae
