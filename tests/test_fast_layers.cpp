// The CPU fast path against the plain LibTorch layers it replaces: same outputs, same gradients.
// Tolerance: max |fast - plain| <= 1e-5 * max(1, max |plain|), in float32.

#include <gtest/gtest.h>

#include "sae/model/fast_layers.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"

namespace sae {
namespace {

constexpr double kTolerance = 1e-5;

void expect_close(const torch::Tensor& fast, const torch::Tensor& plain, const std::string& what) {
  ASSERT_EQ(fast.sizes(), plain.sizes()) << what;
  const double scale = std::max(1.0, plain.abs().max().item<double>());
  const double diff = (fast - plain).abs().max().item<double>();
  EXPECT_LE(diff, kTolerance * scale) << what << ": max difference " << diff;
}

/// Runs `layer` and `fast` on the same input, then backpropagates the same random upstream
/// gradient through both, comparing the output and the gradients of input, weight and bias.
template <typename Layer, typename Fast>
void expect_same_layer(Layer layer, Fast fast, const std::vector<int64_t>& input_shape,
                       const std::string& name) {
  torch::manual_seed(1);
  const auto input = torch::randn(input_shape).requires_grad_(true);
  const auto plain_out = layer->forward(input);
  const auto upstream = torch::randn_like(plain_out);
  plain_out.backward(upstream);
  const auto plain_grads = std::vector<torch::Tensor>{
      input.grad().clone(), layer->weight.grad().clone(), layer->bias.grad().clone()};
  input.grad().zero_();
  layer->weight.grad().zero_();
  layer->bias.grad().zero_();

  const auto fast_out = fast(input, layer->weight, layer->bias);
  fast_out.backward(upstream);
  expect_close(fast_out, plain_out, name + " output");
  expect_close(input.grad(), plain_grads[0], name + " input gradient");
  expect_close(layer->weight.grad(), plain_grads[1], name + " weight gradient");
  expect_close(layer->bias.grad(), plain_grads[2], name + " bias gradient");
}

class FastLayers : public ::testing::TestWithParam<int64_t> {};  // the batch size

TEST_P(FastLayers, Enc3AsAMatrixProduct) {
  torch::nn::Conv2d enc3(torch::nn::Conv2dOptions(32, 64, 7));
  expect_same_layer(enc3, full_kernel_conv, {GetParam(), 32, 7, 7}, "enc3");
}

TEST_P(FastLayers, Dec1AsAMatrixProduct) {
  torch::nn::ConvTranspose2d dec1(torch::nn::ConvTranspose2dOptions(64, 32, 7));
  expect_same_layer(dec1, point_transposed_conv, {GetParam(), 64, 1, 1}, "dec1");
}

TEST_P(FastLayers, Dec2AsPhaseConvolutions) {
  torch::nn::ConvTranspose2d dec2(
      torch::nn::ConvTranspose2dOptions(32, 16, 3).stride(2).padding(1).output_padding(1));
  expect_same_layer(dec2, upsampling_transposed_conv, {GetParam(), 32, 7, 7}, "dec2");
}

TEST_P(FastLayers, Dec3AsPhaseConvolutions) {
  torch::nn::ConvTranspose2d dec3(
      torch::nn::ConvTranspose2dOptions(16, 1, 3).stride(2).padding(1).output_padding(1));
  expect_same_layer(dec3, upsampling_transposed_conv, {GetParam(), 16, 14, 14}, "dec3");
  // Not just the original model's sizes: an odd, non-square map.
  torch::nn::ConvTranspose2d odd(
      torch::nn::ConvTranspose2dOptions(5, 3, 3).stride(2).padding(1).output_padding(1));
  expect_same_layer(odd, upsampling_transposed_conv, {GetParam(), 5, 9, 4}, "odd");
}

TEST_P(FastLayers, WholeModelForwardAndGradients) {
  torch::manual_seed(2);
  SparseAutoencoder model;
  const auto images = torch::rand({GetParam(), 1, 28, 28});
  const SparseLoss loss_fn(0.5, 0.05);

  const auto plain = model->forward_reference(images);
  loss_fn(plain.reconstruction, images, plain.code).total.backward();
  std::vector<torch::Tensor> plain_grads;
  for (const auto& p : model->parameters()) plain_grads.push_back(p.grad().clone());
  model->zero_grad();

  const auto fast = model->forward(images);
  loss_fn(fast.reconstruction, images, fast.code).total.backward();
  expect_close(fast.reconstruction, plain.reconstruction, "reconstruction");
  expect_close(fast.code, plain.code, "code");
  size_t i = 0;
  for (const auto& p : model->named_parameters()) {
    expect_close(p.value().grad(), plain_grads[i++], p.key() + " gradient");
  }
}

// The original model's batch, a batch that is not a multiple of anything convenient, and a single
// image.
INSTANTIATE_TEST_SUITE_P(BatchSizes, FastLayers, ::testing::Values(100, 37, 1));

}  // namespace
}  // namespace sae
