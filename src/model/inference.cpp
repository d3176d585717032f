#include "sae/model/inference.hpp"

namespace sae {

Inference::Inference(SparseAutoencoder model, const torch::Device& device)
    : model_(std::move(model)) {
  model_->eval();
  if (device.is_cpu()) cpu_step_.emplace(model_);
}

AutoencoderOutput Inference::forward(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  return cpu_step_ ? cpu_step_->forward(images) : model_->forward(images);
}

torch::Tensor Inference::encode(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  return cpu_step_ ? cpu_step_->encode(images) : model_->encode(images);
}

torch::Tensor Inference::decode(const torch::Tensor& codes) {
  torch::NoGradGuard no_grad;
  return cpu_step_ ? cpu_step_->decode(codes) : model_->decode(codes);
}

}  // namespace sae
