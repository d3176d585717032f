// The original model's code: h = sigmoid(z), every unit in (0, 1), made sparse only by the
// penalty beta weighs (--penalty). A unit counts as active above 0.5.

#include "kinds.hpp"

namespace sae {
namespace {

class SigmoidCode final : public Code {
 public:
  CodeKind kind() const override { return CodeKind::kSigmoid; }
  const char* name() const override { return "sigmoid"; }
  const char* help() const override { return "the original model's, with --penalty"; }
  double active_threshold() const override { return 0.5; }
  Penalty penalty(Penalty requested) const override { return requested; }
  bool relu_family() const override { return false; }

  torch::Tensor activation(const torch::Tensor& z, const CodeSpec&, const CodeTensors&,
                           bool) const override {
    return torch::sigmoid(z);
  }

  void activation_cpu(const CpuCodeBatch& batch, const CodeSpec&, const CodeTensors&,
                      bool) const override {
    // torch's own kernel, so that the CPU step's code is autograd's to the bit.
    auto code = torch::from_blob(batch.code, {batch.rows, kCodeSize});
    torch::sigmoid_out(code,
                       torch::from_blob(const_cast<float*>(batch.pre), {batch.rows, kCodeSize}));
  }

  void activation_backward_cpu(const float*, const float* h, float* d, int64_t rows,
                               const CodeSpec&, const CodeTensors&, float*) const override {
    for (int64_t i = 0; i < rows * kCodeSize; ++i) d[i] = d[i] * h[i] * (1.0f - h[i]);
  }
};

}  // namespace

const Code& sigmoid_code() {
  static const SigmoidCode code;
  return code;
}

}  // namespace sae
