#include "sae/train/probe.hpp"

#include "sae/base/stopwatch.hpp"
#include "sae/model/gemm.hpp"
#include "sae/train/adam.hpp"
#include "sae/train/eval.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>

namespace sae {
namespace {

constexpr int kEpochs = 10;
constexpr int64_t kBatchSize = 128;
constexpr double kLearningRate = 1e-2;
constexpr uint64_t kSeed = 0;
/// Every image of `data`, flattened: (N, 784) float in [0, 1].
torch::Tensor pixels_of(const Dataset& data) {
  return to_float_batch(data.images).flatten(/*start_dim=*/1).contiguous();
}

/// grad (B, C) <- d(mean cross-entropy)/d(logits) = (softmax(logits) - onehot(labels)) / B, from
/// `logits` (B, C) without the bias, which is added here; bias_grad (C) <- its column sums.
void cross_entropy_gradient(const torch::Tensor& logits, const torch::Tensor& bias,
                            const int64_t* labels, torch::Tensor& grad, torch::Tensor& bias_grad) {
  const int64_t rows = logits.size(0);
  const int64_t classes = logits.size(1);
  const float* z = logits.data_ptr<float>();
  const float* b = bias.data_ptr<float>();
  float* g = grad.data_ptr<float>();
  float* gb = bias_grad.data_ptr<float>();
  std::fill(gb, gb + classes, 0.0f);
  const float scale = 1.0f / static_cast<float>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = z + r * classes;
    float* gr = g + r * classes;
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < classes; ++c) top = std::max(top, zr[c] + b[c]);
    float sum = 0.0f;
    for (int64_t c = 0; c < classes; ++c) sum += (gr[c] = std::exp(zr[c] + b[c] - top));
    for (int64_t c = 0; c < classes; ++c) {
      gr[c] = (gr[c] / sum - (c == labels[r] ? 1.0f : 0.0f)) * scale;
      gb[c] += gr[c];
    }
  }
}

/// The fraction of `features` (N, D) whose logits under `weight` (C, D) and `bias` (C) peak at
/// their label.
double accuracy(const torch::Tensor& weight, const torch::Tensor& bias,
                const torch::Tensor& features, const torch::Tensor& labels) {
  const auto predicted = torch::addmm(bias, features, weight.t()).argmax(/*dim=*/1);  // (N)
  return predicted.eq(labels).to(torch::kFloat64).mean().item<double>();
}

}  // namespace

// Softmax regression by Adam on mini-batches, written out rather than run through autograd and
// torch::optim's step: over its ~4,700 small steps their per-operation bookkeeping, not the
// arithmetic, took most of the time (2 s for each probe of a Fashion-MNIST run). Adam is the
// fused one that training takes.
ProbeResult linear_probe(const torch::Tensor& train_codes, const torch::Tensor& train_labels,
                         const torch::Tensor& test_codes, const torch::Tensor& test_labels,
                         int64_t num_classes) {
  TORCH_CHECK(num_classes >= 1, "linear_probe: ", num_classes, " classes");
  torch::NoGradGuard no_grad;
  const Stopwatch stopwatch;
  const auto features = train_codes.to(torch::kFloat).contiguous();  // (N, D)
  const auto labels = train_labels.to(torch::kInt64).contiguous();   // (N)
  const int64_t n = features.size(0);
  const int64_t width = features.size(1);
  // nn::Linear's initial weights from the fixed seed, computed as its reset_parameters() does
  // (weight: kaiming_uniform_ with a = sqrt(5); bias: U(-1/sqrt(D), 1/sqrt(D))), but drawn from a
  // generator of the probe's own: the two probes run side by side.
  auto generator = at::detail::createCPUGenerator(kSeed);
  const double fan_in = static_cast<double>(width);
  const double gain = std::sqrt(2.0 / (1 + std::pow(std::sqrt(5.0), 2)));
  const double weight_bound = std::sqrt(3.0) * (gain / std::sqrt(fan_in));
  const double bias_bound = 1 / std::sqrt(fan_in);
  auto weight = torch::empty({num_classes, width}).uniform_(-weight_bound, weight_bound, generator);
  auto bias = torch::empty({num_classes}).uniform_(-bias_bound, bias_bound, generator);
  // The products and the loss's gradient write into the parameters' own .grad(), which Adam
  // (torch::optim::Adam's formula, as training takes it) reads.
  auto weight_grad = torch::zeros_like(weight);
  auto bias_grad = torch::zeros_like(bias);
  weight.mutable_grad() = weight_grad;
  bias.mutable_grad() = bias_grad;
  torch::optim::Adam optimizer({weight, bias}, torch::optim::AdamOptions(kLearningRate));
  auto batch = torch::empty({kBatchSize, width});              // (B, D)
  auto logits = torch::empty({kBatchSize, num_classes});       // (B, C)
  auto logits_grad = torch::empty({kBatchSize, num_classes});  // (B, C)
  std::vector<int64_t> batch_labels(kBatchSize);
  const float* rows = features.data_ptr<float>();
  const int64_t* all_labels = labels.data_ptr<int64_t>();
  for (int epoch = 1; epoch <= kEpochs; ++epoch) {
    const std::vector<int64_t> order = epoch_order(n, kSeed, epoch);
    for (int64_t begin = 0; begin < n; begin += kBatchSize) {
      const int64_t size = std::min(kBatchSize, n - begin);
      auto x = batch.narrow(0, 0, size);  // (B, D)
      for (int64_t i = 0; i < size; ++i) {
        const int64_t row = order[static_cast<size_t>(begin + i)];
        std::memcpy(x.data_ptr<float>() + i * width, rows + row * width, width * sizeof(float));
        batch_labels[static_cast<size_t>(i)] = all_labels[row];
      }
      auto z = logits.narrow(0, 0, size);
      auto dz = logits_grad.narrow(0, 0, size);
      matmul(z, x, weight.t());  // (B, C)
      cross_entropy_gradient(z, bias, batch_labels.data(), dz, bias_grad);
      matmul(weight_grad, dz.t(), x);  // (C, D)
      fused_adam_step(optimizer);
    }
  }
  ProbeResult result;
  result.train_accuracy = accuracy(weight, bias, features, labels);
  result.test_accuracy =
      accuracy(weight, bias, test_codes.to(torch::kFloat), test_labels.to(torch::kInt64));
  result.seconds = stopwatch.seconds();
  return result;
}

ProbeResult pixel_probe(const Dataset& train, const Dataset& test) {
  return linear_probe(pixels_of(train), train.labels, pixels_of(test), test.labels,
                      train.num_classes);
}

CodeAndPixelProbes probe_code_and_pixels(SparseAutoencoder& model, const Dataset& train,
                                         const Dataset& test, const torch::Tensor& test_codes,
                                         int64_t batch_size, const torch::Device& device) {
  // The pixels' probe is the slower one and needs nothing of the model.
  std::future<ProbeResult> pixels =
      std::async(std::launch::async, [&] { return pixel_probe(train, test); });
  CodeAndPixelProbes probes;
  probes.code = linear_probe(encode_all(model, train, batch_size, device), train.labels, test_codes,
                             test.labels, train.num_classes);
  probes.pixels = pixels.get();
  return probes;
}

ProbeResult no_probe() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {nan, nan, 0.0};
}

}  // namespace sae
