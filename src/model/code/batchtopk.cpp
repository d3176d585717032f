// BatchTopK (Bussmann et al. 2024; SAELens): in training, h = relu of the batch's k*B largest z,
// so the mean L0 is k while each image's varies. Each step moves a running threshold towards the
// smallest positive value kept (SAELens's rule, rate kThresholdRate); at inference the code is
// z where z > that threshold, a JumpReLU with one threshold for every unit. Ties are broken by
// (image, unit) order, as a stable sort of the flattened batch gives.

#include "kinds.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace sae {
namespace {

constexpr double kThresholdRate = 0.01;

/// threshold <- (1 - rate) threshold + rate * smallest_kept, in the tensor's float arithmetic:
/// one function for both paths, so that they move it identically.
void move_threshold(const torch::Tensor& threshold, float smallest_kept) {
  torch::NoGradGuard no_grad;
  threshold.mul_(1.0 - kThresholdRate).add_(kThresholdRate * static_cast<double>(smallest_kept));
}

class BatchTopKCode final : public Code {
 public:
  CodeKind kind() const override { return CodeKind::kBatchTopK; }
  const char* name() const override { return "batchtopk"; }
  const char* help() const override { return "the batch's --k * B largest units"; }
  Penalty penalty(Penalty) const override { return Penalty::kNone; }

  torch::Tensor activation(const torch::Tensor& z, const CodeSpec& spec, const CodeTensors& tensors,
                           bool training) const override {
    const auto positive = torch::relu(z);
    if (!training) return positive * z.gt(tensors.threshold.to(z.device()));
    const auto flat = positive.detach().flatten();  // (B*64)
    const int64_t kept = std::min(spec.k * z.size(0), flat.numel());
    if (kept == 0) return positive;
    const auto order =
        std::get<1>(torch::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/true))
            .narrow(0, 0, kept);
    const auto mask = torch::zeros_like(flat).scatter_(0, order, 1.0).view_as(z);
    const auto values = flat.index_select(0, order);
    const auto positives = values.masked_select(values.gt(0));
    if (positives.numel() > 0) move_threshold(tensors.threshold, positives.min().item<float>());
    return positive * mask;
  }

  void activation_cpu(const CpuCodeBatch& batch, const CodeSpec& spec, const CodeTensors& tensors,
                      bool training) const override {
    const int64_t count = batch.rows * kCodeSize;
    if (!training) {
      const float threshold = tensors.threshold.item<float>();
      for (int64_t i = 0; i < count; ++i) {
        batch.code[i] = batch.pre[i] > threshold ? std::max(batch.pre[i], 0.0f) : 0.0f;
      }
      return;
    }
    const int64_t kept = std::min(spec.k * batch.rows, count);
    std::vector<float> positive(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) positive[i] = std::max(batch.pre[i], 0.0f);
    std::vector<int64_t> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), 0);
    if (kept > 0 && kept < count) {
      std::nth_element(order.begin(), order.begin() + (kept - 1), order.end(),
                       [&](int64_t i, int64_t j) {
                         return positive[i] > positive[j] || (positive[i] == positive[j] && i < j);
                       });
    }
    std::fill_n(batch.code, count, 0.0f);
    float smallest = std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < kept; ++i) {
      const float value = positive[order[i]];
      batch.code[order[i]] = value;
      if (value > 0.0f) smallest = std::min(smallest, value);
    }
    if (smallest < std::numeric_limits<float>::infinity())
      move_threshold(tensors.threshold, smallest);
  }

  void activation_backward_cpu(const float*, const float* h, float* d, int64_t rows,
                               const CodeSpec&, const CodeTensors&, float*) const override {
    kept_units_backward(h, d, rows * kCodeSize);
  }
};

}  // namespace

const Code& batchtopk_code() {
  static const BatchTopKCode code;
  return code;
}

}  // namespace sae
