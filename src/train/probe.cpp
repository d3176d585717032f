#include "sae/train/probe.hpp"

#include "sae/base/stopwatch.hpp"

#include <limits>

namespace sae {
namespace {

constexpr int kEpochs = 10;
constexpr int64_t kBatchSize = 128;
constexpr double kLearningRate = 1e-2;
constexpr uint64_t kSeed = 0;

/// Every image of `data`, flattened: (N, 784) float in [0, 1].
torch::Tensor pixels_of(const Dataset& data) {
  return to_float_batch(data.images).flatten(/*start_dim=*/1);
}

double accuracy(torch::nn::Linear& classifier, const torch::Tensor& codes,
                const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  const auto predicted = classifier(codes).argmax(/*dim=*/1);  // (N)
  return predicted.eq(labels).to(torch::kFloat64).mean().item<double>();
}

}  // namespace

ProbeResult linear_probe(const torch::Tensor& train_codes, const torch::Tensor& train_labels,
                         const torch::Tensor& test_codes, const torch::Tensor& test_labels,
                         int64_t num_classes) {
  TORCH_CHECK(num_classes >= 1, "linear_probe: ", num_classes, " classes");
  const Stopwatch stopwatch;
  torch::manual_seed(kSeed);  // the classifier's initial weights
  torch::nn::Linear classifier(train_codes.size(1), num_classes);
  torch::optim::Adam optimizer(classifier->parameters(), torch::optim::AdamOptions(kLearningRate));
  const int64_t n = train_codes.size(0);
  for (int epoch = 1; epoch <= kEpochs; ++epoch) {
    const auto order = torch::tensor(epoch_order(n, kSeed, epoch), torch::kInt64);
    for (int64_t begin = 0; begin < n; begin += kBatchSize) {
      const auto idx = order.slice(0, begin, std::min(begin + kBatchSize, n));
      const auto logits = classifier(train_codes.index_select(0, idx));  // (B, classes)
      const auto loss =
          torch::nn::functional::cross_entropy(logits, train_labels.index_select(0, idx));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  }
  ProbeResult result;
  result.train_accuracy = accuracy(classifier, train_codes, train_labels);
  result.test_accuracy = accuracy(classifier, test_codes, test_labels);
  result.seconds = stopwatch.seconds();
  return result;
}

ProbeResult pixel_probe(const Dataset& train, const Dataset& test) {
  return linear_probe(pixels_of(train), train.labels, pixels_of(test), test.labels,
                      train.num_classes);
}

ProbeResult no_probe() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {nan, nan, 0.0};
}

}  // namespace sae
