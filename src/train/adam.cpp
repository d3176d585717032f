#include "sae/train/adam.hpp"

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

namespace sae {
namespace {

/// The key under which `states` keeps `param`'s state: LibTorch 1.x keys it by the TensorImpl's
/// address as text (c10::guts::to_string, which 2.2 removed, printed it as a stream does), 2.x
/// by the address itself.
template <typename States>
typename States::key_type state_key(const States&, const torch::Tensor& param) {
  if constexpr (std::is_same_v<typename States::key_type, std::string>) {
    std::ostringstream text;
    text << static_cast<const void*>(param.unsafeGetTensorImpl());
    return text.str();
  } else {
    return param.unsafeGetTensorImpl();
  }
}

// Elements per task of the element-wise pass: the two large weights (100,352 each) split in two.
constexpr int64_t kGrain = 16384;

}  // namespace

torch::optim::AdamParamState* adam_state_of(torch::optim::Adam& optimizer,
                                            const torch::Tensor& param) {
  auto& states = optimizer.state();
  const auto found = states.find(state_key(states, param));
  return found == states.end() ? nullptr
                               : static_cast<torch::optim::AdamParamState*>(found->second.get());
}

void fused_adam_step(torch::optim::Adam& optimizer) {
  torch::NoGradGuard no_grad;
  auto& states = optimizer.state();
  for (auto& group : optimizer.param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    TORCH_CHECK(!options.amsgrad(), "fused_adam_step: amsgrad is not supported");
    const double beta1 = std::get<0>(options.betas());
    const double beta2 = std::get<1>(options.betas());
    for (auto& param : group.params()) {
      const torch::Tensor& grad = param.grad();
      if (!grad.defined()) continue;
      TORCH_CHECK(param.is_cpu() && param.scalar_type() == torch::kFloat && param.is_contiguous() &&
                      grad.is_contiguous(),
                  "fused_adam_step: contiguous float CPU parameters only");
      auto* state = adam_state_of(optimizer, param);
      if (state == nullptr) {  // as torch::optim::Adam starts a parameter's state
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(param, torch::MemoryFormat::Preserve));
        state = fresh.get();
        states[state_key(states, param)] = std::move(fresh);
      }
      // A state loaded from another device or shape (a resume with another --device) is refused
      // before this parameter changes, as LibTorch's own Adam refuses it.
      for (const torch::Tensor* moment : {&state->exp_avg(), &state->exp_avg_sq()}) {
        TORCH_CHECK(moment->defined() && moment->is_cpu() &&
                        moment->scalar_type() == torch::kFloat && moment->is_contiguous() &&
                        moment->numel() == param.numel(),
                    "fused_adam_step: Adam's state does not match its parameter ", param.sizes(),
                    " (was it saved on another device?)");
      }
      state->step(state->step() + 1);
      // LibTorch's formula, operation for operation, in float as its kernels compute it.
      const double bias_correction1 = 1 - std::pow(beta1, state->step());
      const double bias_correction2 = 1 - std::pow(beta2, state->step());
      const auto decay = static_cast<float>(options.weight_decay());
      const auto b1 = static_cast<float>(beta1), one_minus_b1 = static_cast<float>(1 - beta1);
      const auto b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1 - beta2);
      const auto sqrt_bias_correction2 = static_cast<float>(std::sqrt(bias_correction2));
      const auto eps = static_cast<float>(options.eps());
      const auto step_size = static_cast<float>(options.lr() / bias_correction1);
      float* p = param.data_ptr<float>();
      const float* g = grad.data_ptr<float>();
      float* m = state->exp_avg().data_ptr<float>();
      float* v = state->exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, param.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const float gi = decay != 0 ? g[i] + decay * p[i] : g[i];
          m[i] = m[i] * b1 + one_minus_b1 * gi;
          v[i] = v[i] * b2 + one_minus_b2 * gi * gi;
          const float denom = std::sqrt(v[i]) / sqrt_bias_correction2 + eps;
          p[i] = p[i] + -step_size * m[i] / denom;
        }
      });
    }
  }
}

}  // namespace sae
