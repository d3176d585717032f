// TopK (Gao et al. 2024; EleutherAI's sparsify): h = relu of each image's k largest z, 0
// elsewhere, so every image has at most k active units and no penalty is needed. Ties are broken
// by the lower unit index, in autograd (a stable sort) and on the CPU (the same total order).

#include "kinds.hpp"

#include <algorithm>
#include <array>
#include <numeric>

namespace sae {

torch::Tensor topk_mask(const torch::Tensor& z, int64_t k) {
  torch::NoGradGuard no_grad;
  const auto order = std::get<1>(torch::sort(z, /*stable=*/true, /*dim=*/1, /*descending=*/true));
  return torch::zeros_like(z).scatter_(1, order.narrow(1, 0, k), 1.0);  // (B, 64)
}

namespace {

class TopKCode final : public Code {
 public:
  CodeKind kind() const override { return CodeKind::kTopK; }
  const char* name() const override { return "topk"; }
  const char* help() const override { return "each image's --k largest units"; }
  Penalty penalty(Penalty) const override { return Penalty::kNone; }

  torch::Tensor activation(const torch::Tensor& z, const CodeSpec& spec, const CodeTensors&,
                           bool) const override {
    return torch::relu(z) * topk_mask(z, spec.k);
  }

  void activation_cpu(const CpuCodeBatch& batch, const CodeSpec& spec, const CodeTensors&,
                      bool) const override {
    std::array<int, kCodeSize> units{};
    for (int64_t b = 0; b < batch.rows; ++b) {
      const float* z = batch.pre + b * kCodeSize;
      float* h = batch.code + b * kCodeSize;
      std::iota(units.begin(), units.end(), 0);
      // Larger first, then the lower index: the order a stable descending sort gives.
      std::nth_element(units.begin(), units.begin() + (spec.k - 1), units.end(),
                       [&](int i, int j) { return z[i] > z[j] || (z[i] == z[j] && i < j); });
      std::fill_n(h, kCodeSize, 0.0f);
      for (int64_t i = 0; i < spec.k; ++i) h[units[i]] = std::max(z[units[i]], 0.0f);
    }
  }

  void activation_backward_cpu(const float*, const float* h, float* d, int64_t rows,
                               const CodeSpec&, const CodeTensors&, float*) const override {
    kept_units_backward(h, d, rows * kCodeSize);
  }
};

}  // namespace

const Code& topk_code() {
  static const TopKCode code;
  return code;
}

}  // namespace sae
