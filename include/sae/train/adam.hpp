#pragma once
// Adam on the CPU in one pass per parameter, over the state of LibTorch's own torch::optim::Adam,
// so that the optimizer file keeps its format; and where that optimizer keeps a parameter's state.

#include <torch/torch.h>

namespace sae {

/// `param`'s state in `optimizer`, or nullptr before its first step.
torch::optim::AdamParamState* adam_state_of(torch::optim::Adam& optimizer,
                                            const torch::Tensor& param);

/// One step of `optimizer` as torch::optim::Adam::step takes it (L2 weight decay, no amsgrad)
/// on CPU float parameters, fused: one pass per parameter over its value, gradient and both
/// moments, split across the intra-op threads, where LibTorch's takes ten.
void fused_adam_step(torch::optim::Adam& optimizer);

}  // namespace sae
