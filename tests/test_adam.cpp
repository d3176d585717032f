// The fused Adam against LibTorch's: the same steps, and a state that LibTorch's Adam continues.

#include <gtest/gtest.h>

#include "sae/train/adam.hpp"

#include <sstream>
#include <vector>

namespace sae {
namespace {

constexpr double kTolerance = 1e-6;  // relative: float rounding of the same formula

/// Adam over a weight (with L2 weight decay, as training's weights have) and a bias (without).
torch::optim::Adam adam_over(const torch::Tensor& weight, const torch::Tensor& bias) {
  const auto options = torch::optim::AdamOptions(1e-2).betas(std::make_tuple(0.9, 0.999)).eps(1e-8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{weight},
                      std::make_unique<torch::optim::AdamOptions>(
                          torch::optim::AdamOptions(options).weight_decay(0.1)));
  groups.emplace_back(std::vector<torch::Tensor>{bias},
                      std::make_unique<torch::optim::AdamOptions>(options));
  return torch::optim::Adam(std::move(groups), options);
}

/// Parameters of the given shapes, the same numbers for every call.
std::vector<torch::Tensor> parameters() {
  torch::manual_seed(3);
  return {torch::randn({5, 7}).requires_grad_(), torch::randn({5}).requires_grad_()};
}

/// The gradient of step `step` for each of `params`: the same for every set of parameters.
void set_gradients(std::vector<torch::Tensor>& params, int step) {
  torch::manual_seed(100 + step);
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p);
}

void expect_near(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want,
                 const std::string& when) {
  for (size_t i = 0; i < got.size(); ++i) {
    const double scale = want[i].abs().max().item<double>();
    EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), kTolerance * scale)
        << "parameter " << i << " " << when;
  }
}

TEST(Adam, FusedStepsAreLibTorchsAndItsStateContinuesInLibTorchsAdam) {
  auto fused_params = parameters();
  auto torch_params = parameters();
  auto fused = adam_over(fused_params[0], fused_params[1]);
  auto reference = adam_over(torch_params[0], torch_params[1]);
  for (int step = 1; step <= 3; ++step) {
    set_gradients(fused_params, step);
    set_gradients(torch_params, step);
    fused_adam_step(fused);
    reference.step();
    expect_near(fused_params, torch_params, "after step " + std::to_string(step));
  }
  // Saved and loaded as a checkpoint's optimizer file is, the fused state goes on in LibTorch's.
  std::stringstream file;
  torch::save(fused, file);
  auto loaded_params =
      std::vector<torch::Tensor>{fused_params[0].detach().clone().requires_grad_(),
                                 fused_params[1].detach().clone().requires_grad_()};
  auto loaded = adam_over(loaded_params[0], loaded_params[1]);
  torch::load(loaded, file);
  ASSERT_NE(adam_state_of(loaded, loaded_params[0]), nullptr);
  EXPECT_EQ(adam_state_of(loaded, loaded_params[0])->step(), 3);
  set_gradients(loaded_params, 4);
  set_gradients(torch_params, 4);
  loaded.step();
  reference.step();
  expect_near(loaded_params, torch_params, "after a LibTorch step on the loaded state");
}

TEST(Adam, AStateThatDoesNotFitItsParameterIsRefused) {
  auto params = parameters();
  auto optimizer = adam_over(params[0], params[1]);
  set_gradients(params, 1);
  fused_adam_step(optimizer);
  adam_state_of(optimizer, params[0])->exp_avg(torch::zeros({3}));  // as from another model
  const auto before = params[0].detach().clone();
  EXPECT_THROW(fused_adam_step(optimizer), c10::Error);
  EXPECT_TRUE(torch::equal(params[0].detach(), before));
}

}  // namespace
}  // namespace sae
