#include <gtest/gtest.h>

#include "sae/train/probe.hpp"

namespace sae {
namespace {

TEST(Probe, SeparableCodesAreClassifiedPerfectly) {
  // Class c lights unit c: a linear probe must reach 100%.
  const auto labels = torch::arange(500) % 10;
  auto codes = torch::full({500, 64}, 0.05);
  for (int64_t i = 0; i < 500; ++i) codes[i][labels[i].item<int64_t>()] = 0.9;
  const auto result = linear_probe(codes, labels, codes.slice(0, 0, 100), labels.slice(0, 0, 100));
  EXPECT_DOUBLE_EQ(result.test_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(result.train_accuracy, 1.0);
  // Codes that carry nothing: chance level.
  torch::manual_seed(0);
  const auto noise = torch::rand({500, 64});
  const auto chance = linear_probe(noise, labels, torch::rand({500, 64}), labels);
  EXPECT_LT(chance.test_accuracy, 0.25);
}

TEST(Probe, ReadsFeaturesOfAnyWidthAndTheRawPixelsAreItsBaseline) {
  // Class c draws row 2c: separable in the 784 pixels, where no 64-unit code stands between.
  const auto labels = torch::arange(500) % 10;
  auto images = torch::zeros({500, 28, 28}, torch::kUInt8);
  for (int64_t i = 0; i < 500; ++i) images[i][2 * labels[i].item<int64_t>()].fill_(255);
  const Dataset train{images, labels};
  const Dataset test{images.slice(0, 0, 100), labels.slice(0, 0, 100)};
  const ProbeResult pixels = pixel_probe(train, test);
  EXPECT_DOUBLE_EQ(pixels.test_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(pixels.train_accuracy, 1.0);
  // Noise pixels carry nothing: chance on images it was not trained on.
  torch::manual_seed(0);
  const Dataset noise_train{torch::randint(0, 256, {500, 28, 28}, torch::kUInt8), labels};
  const Dataset noise_test{torch::randint(0, 256, {500, 28, 28}, torch::kUInt8), labels};
  EXPECT_LT(pixel_probe(noise_train, noise_test).test_accuracy, 0.25);
}

TEST(Probe, OneClassIsProbedToo) {
  // An ImageFolder of one class is labelled: its logits are one column, a (B, 1) product.
  const auto labels = torch::zeros({300}, torch::kInt64);
  torch::manual_seed(0);
  const auto codes = torch::rand({300, 64});
  const auto result = linear_probe(codes, labels, codes.slice(0, 0, 50), labels.slice(0, 0, 50),
                                   /*num_classes=*/1);
  EXPECT_DOUBLE_EQ(result.test_accuracy, 1.0);
}

}  // namespace
}  // namespace sae
