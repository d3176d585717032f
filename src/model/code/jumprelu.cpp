// JumpReLU (Rajamanoharan et al. 2024; SAELens): h_j = z_j where z_j > theta_j, else 0, with a
// learned threshold per unit and its own penalty: the mean L0, sum_j H(z_j - theta_j) averaged
// over the batch (lambda, --l0-coef, weighs it). The step H has no gradient, so theta learns
// through straight-through estimators with the rectangle kernel K(u) = 1 for |u| < 1/2, of width
// epsilon (--bandwidth):
//   d h_j / d theta_j := -(theta_j / eps) K((z_j - theta_j) / eps)
//   d H(z_j - theta_j) / d theta_j := -(1 / eps) K((z_j - theta_j) / eps),  d H / d z := 0.
// Where this differs from SAELens: theta is learned as itself, not as log theta. Adam moves a
// parameter by about lr per step, so over a run of 10^3 steps at lr 1e-3 log theta moves theta by
// a factor e at most, from SAELens's 0.001 to 0.003: the L0 penalty then never bites. theta itself
// moves by up to 1, the scale of z here. To keep the code >= 0 should theta dip below 0, h is
// relu(z) H(z - theta), the same as z H(z - theta) for theta >= 0, and the jump's height in the
// first estimator is max(theta, 0).

#include "kinds.hpp"

#include <algorithm>

namespace sae {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// K((z - theta) / eps) as 0/1 floats: z within eps/2 of theta.
torch::Tensor rectangle(const torch::Tensor& z, const torch::Tensor& theta, double eps) {
  const auto u = (z - theta) / eps;
  return (u.gt(-0.5) & u.lt(0.5)).to(z.scalar_type());
}

/// h = relu(z) * H(z - theta), with the estimator above for theta.
struct JumpReluFunction : public torch::autograd::Function<JumpReluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& z,
                               const torch::Tensor& theta, double eps) {
    ctx->save_for_backward({z, theta});
    ctx->saved_data["eps"] = eps;
    return torch::relu(z) * z.gt(theta).to(z.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &z = saved[0], &theta = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    const auto& g = grads[0];  // (B, 64)
    const auto kept = (z.gt(theta) & z.gt(0)).to(g.scalar_type());
    const auto height = theta.clamp_min(0);                                                // (64)
    const auto d_theta = (g * rectangle(z, theta, eps) * (-height / eps)).sum(/*dim=*/0);  // (64)
    return {g * kept, d_theta, torch::Tensor()};
  }
};

/// H(z - theta) as floats, with the estimator above for theta and none for z.
struct StepFunction : public torch::autograd::Function<StepFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& z,
                               const torch::Tensor& theta, double eps) {
    ctx->save_for_backward({z, theta});
    ctx->saved_data["eps"] = eps;
    return z.gt(theta).to(z.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &z = saved[0], &theta = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    const auto d_theta = (grads[0] * rectangle(z, theta, eps) * (-1.0 / eps)).sum(/*dim=*/0);
    return {torch::zeros_like(z), d_theta, torch::Tensor()};
  }
};

/// theta (64) on the CPU.
std::vector<float> thresholds_of(const CodeTensors& tensors) {
  const auto theta = tensors.theta.detach().contiguous();
  return {theta.data_ptr<float>(), theta.data_ptr<float>() + theta.numel()};
}

/// K((z - theta) / eps) in float, as rectangle() computes it.
bool in_window(float z, float theta, float eps) {
  const float u = (z - theta) / eps;
  return u > -0.5f && u < 0.5f;
}

class JumpReluCode final : public Code {
 public:
  CodeKind kind() const override { return CodeKind::kJumpRelu; }
  const char* name() const override { return "jumprelu"; }
  const char* help() const override { return "z above a learned threshold per unit"; }
  Penalty penalty(Penalty) const override { return Penalty::kNone; }

  torch::Tensor activation(const torch::Tensor& z, const CodeSpec& spec, const CodeTensors& tensors,
                           bool) const override {
    return JumpReluFunction::apply(z, tensors.theta, spec.bandwidth);
  }

  torch::Tensor own_penalty(const torch::Tensor& z, const CodeSpec& spec,
                            const CodeTensors& tensors) const override {
    return StepFunction::apply(z, tensors.theta, spec.bandwidth).sum(/*dim=*/1).mean();  // mean L0
  }

  void activation_cpu(const CpuCodeBatch& batch, const CodeSpec&, const CodeTensors& tensors,
                      bool) const override {
    const auto theta = thresholds_of(tensors);
    for (int64_t b = 0; b < batch.rows; ++b) {
      const float* z = batch.pre + b * kCodeSize;
      float* h = batch.code + b * kCodeSize;
      for (int64_t j = 0; j < kCodeSize; ++j) h[j] = z[j] > theta[j] ? std::max(z[j], 0.0f) : 0.0f;
    }
  }

  void activation_backward_cpu(const float* z, const float* h, float* d, int64_t rows,
                               const CodeSpec& spec, const CodeTensors& tensors,
                               float* d_theta) const override {
    const auto theta = thresholds_of(tensors);
    const auto eps = static_cast<float>(spec.bandwidth);
    for (int64_t b = 0; b < rows; ++b, z += kCodeSize, h += kCodeSize, d += kCodeSize) {
      for (int64_t j = 0; j < kCodeSize; ++j) {
        if (in_window(z[j], theta[j], eps)) {
          d_theta[j] += d[j] * (-std::max(theta[j], 0.0f) / eps);
        }
        d[j] = h[j] > 0.0f ? d[j] : 0.0f;
      }
    }
  }

  double own_penalty_cpu(const float* z, int64_t rows, const CodeSpec& spec,
                         const CodeTensors& tensors, float scale, float* d_theta) const override {
    const auto theta = thresholds_of(tensors);
    const auto eps = static_cast<float>(spec.bandwidth);
    double active = 0.0;
    for (int64_t b = 0; b < rows; ++b, z += kCodeSize) {
      for (int64_t j = 0; j < kCodeSize; ++j) {
        if (z[j] > theta[j]) active += 1.0;
        if (in_window(z[j], theta[j], eps)) d_theta[j] += scale * (-1.0f / eps);
      }
    }
    return active;
  }
};

}  // namespace

const Code& jumprelu_code() {
  static const JumpReluCode code;
  return code;
}

}  // namespace sae
