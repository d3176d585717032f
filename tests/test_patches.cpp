// The CPU step's patch loops against LibTorch's own: im2col is F::unfold (kernel 3, stride 2,
// padding 1) re-laid channels-last, col2im is F::fold, and the fused ReLU and bias-gradient passes
// are their plain tensor formulas. Channel counts 1 and 16 take the loops compiled for them, 3 the
// general one.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sae/model/patches.hpp"

#include <tuple>

namespace sae {
namespace {

namespace F = torch::nn::functional;

constexpr double kTolerance = 1e-6;  // col2im sums up to 4 taps in another order than fold

/// (images, side, side, C) channels-last -> (images, C, side, side), as LibTorch's ops take it.
torch::Tensor to_nchw(const torch::Tensor& map) {
  return map.permute({0, 3, 1, 2}).contiguous();
}

/// cols (images * half * half, 9 * C), tap-major -> (images, C * 9, half * half), as unfold's.
torch::Tensor to_unfold_layout(const torch::Tensor& cols, int64_t images, int64_t half,
                               int64_t channels) {
  return cols.view({images, half * half, 3, 3, channels})
      .permute({0, 4, 2, 3, 1})
      .reshape({images, channels * 9, half * half});
}

torch::Tensor folded(const torch::Tensor& cols, int64_t images, int64_t side, int64_t channels) {
  return F::fold(to_unfold_layout(cols, images, side / 2, channels),
                 F::FoldFuncOptions({side, side}, {3, 3}).padding(1).stride(2));
}

class Patches : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {
 protected:
  int64_t side() const { return std::get<0>(GetParam()); }
  int64_t channels() const { return std::get<1>(GetParam()); }
  static constexpr int64_t kImages = 3;
};

TEST_P(Patches, Im2colIsUnfold) {
  torch::manual_seed(1);
  const int64_t half = side() / 2;
  const auto map = torch::randn({kImages, side(), side(), channels()});
  auto cols = torch::full({kImages * half * half, 9 * channels()}, 7.0f);  // every entry written
  im2col(map.data_ptr<float>(), kImages, side(), channels(), cols.data_ptr<float>());
  const auto want = F::unfold(to_nchw(map), F::UnfoldFuncOptions({3, 3}).padding(1).stride(2));
  EXPECT_TRUE(torch::equal(to_unfold_layout(cols, kImages, half, channels()), want));
}

TEST_P(Patches, Col2imIsFoldPlusBiasThenRelu) {
  torch::manual_seed(2);
  const int64_t half = side() / 2;
  const auto cols = torch::randn({kImages * half * half, 9 * channels()});
  const auto bias = torch::randn({channels()});
  for (const bool relu : {false, true}) {
    auto map = torch::full({kImages, side(), side(), channels()}, 7.0f);
    col2im(cols.data_ptr<float>(), kImages, side(), channels(), bias.data_ptr<float>(), relu,
           map.data_ptr<float>());
    auto want = folded(cols, kImages, side(), channels()) + bias.view({1, -1, 1, 1});
    if (relu) want = want.relu();
    EXPECT_TRUE(torch::allclose(to_nchw(map), want, kTolerance, kTolerance)) << "relu " << relu;
  }
}

TEST_P(Patches, Col2imReluBackwardMasksAndSumsTheBiasGradient) {
  torch::manual_seed(3);
  const int64_t half = side() / 2;
  const auto d_cols = torch::randn({kImages * half * half, 9 * channels()});
  const auto out = torch::randn({kImages, side(), side(), channels()}).relu();  // a ReLU's output
  auto d_map = torch::full_like(out, 7.0f);
  auto bias_sum = torch::full({channels()}, 7.0, torch::kFloat64);  // added to
  col2im_relu_backward(d_cols.data_ptr<float>(), kImages, side(), channels(), out.data_ptr<float>(),
                       d_map.data_ptr<float>(), bias_sum.data_ptr<double>());
  const auto want = folded(d_cols, kImages, side(), channels()) * to_nchw(out).gt(0);
  EXPECT_TRUE(torch::allclose(to_nchw(d_map), want, kTolerance, kTolerance));
  EXPECT_TRUE(
      torch::allclose(bias_sum - 7.0, want.sum({0, 2, 3}).to(torch::kFloat64), kTolerance, 1e-5));
}

TEST_P(Patches, ReluBackwardAndBiasPasses) {
  torch::manual_seed(4);
  const int64_t rows = kImages * side();
  const auto x = torch::randn({rows, channels()});
  const auto bias = torch::randn({channels()});
  auto relu_out = x.clone();
  add_bias_relu(relu_out.data_ptr<float>(), rows, channels(), bias.data_ptr<float>());
  EXPECT_TRUE(torch::equal(relu_out, (x + bias).relu()));
  auto biased = x.clone();
  add_bias(biased.data_ptr<float>(), rows, channels(), bias.data_ptr<float>());
  EXPECT_TRUE(torch::equal(biased, x + bias));

  const auto grad = torch::randn({rows, channels()});
  auto masked = grad.clone();
  auto bias_sum = torch::full({channels()}, 7.0, torch::kFloat64);  // added to
  relu_backward(masked.data_ptr<float>(), relu_out.data_ptr<float>(), rows, channels(),
                bias_sum.data_ptr<double>());
  const auto want = grad * relu_out.gt(0);
  EXPECT_TRUE(torch::equal(masked, want));
  EXPECT_TRUE(torch::allclose(bias_sum - 7.0, want.sum(0).to(torch::kFloat64), kTolerance, 1e-5));
  auto summed = torch::zeros({channels()}, torch::kFloat64);
  sum_rows(grad.data_ptr<float>(), rows, channels(), summed.data_ptr<double>());
  EXPECT_TRUE(torch::allclose(summed, grad.sum(0).to(torch::kFloat64), kTolerance, 1e-5));
}

// The step's layers: 28 -> 14 with 1 channel (enc1, dec3), 14 -> 7 with 16 (enc2, dec2); the
// other channel counts compiled for (32: the ReLUs of h2 and h4; 64: the code's bias); and one
// without loops of its own.
INSTANTIATE_TEST_SUITE_P(SidesAndChannels, Patches,
                         ::testing::Values(std::make_tuple(int64_t{28}, int64_t{1}),
                                           std::make_tuple(int64_t{14}, int64_t{16}),
                                           std::make_tuple(int64_t{14}, int64_t{32}),
                                           std::make_tuple(int64_t{8}, int64_t{64}),
                                           std::make_tuple(int64_t{8}, int64_t{3})));

}  // namespace
}  // namespace sae
