#pragma once
// The original model's convolutional sparse autoencoder, with its layer names.

#include <torch/torch.h>

#include "sae/model/sparsity.hpp"

namespace sae {

/// Units in the sparse code: enc3's 64 output channels at 1x1.
constexpr int64_t kCodeSize = 64;

/// What one forward pass produces.
struct AutoencoderOutput {
  torch::Tensor reconstruction;  // (B, 1, 28, 28) in (0, 1)
  torch::Tensor code;            // (B, 64) in (0, 1)
};

/// enc1..enc3 convolutions down to a 64-unit code, dec1..dec3 transposed convolutions back up to
/// a 28x28 sigmoid image, as torch::nn layers on every device: the reference that CpuStep (the
/// CPU's kernel) is held to. Parameter names match the original PyTorch module's.
class SparseAutoencoderImpl : public torch::nn::Module {
 public:
  /// The code is enc3's output through the activation of kind `code` (sparsity.hpp); every kind
  /// so far uses the sigmoid.
  explicit SparseAutoencoderImpl(Penalty code = Penalty::kKl);

  /// Encodes and decodes a batch of images (B, 1, 28, 28).
  AutoencoderOutput forward(const torch::Tensor& images);
  /// The sparse code of a batch of images: (B, 1, 28, 28) -> (B, 64).
  torch::Tensor encode(const torch::Tensor& images);
  /// The image a batch of codes draws: (B, 64) -> (B, 1, 28, 28).
  torch::Tensor decode(const torch::Tensor& code);
  /// The kind of code, whose activation encode applies.
  const Sparsity& code_kind() const { return *code_kind_; }

  torch::nn::Conv2d enc1, enc2, enc3;
  torch::nn::ConvTranspose2d dec1, dec2, dec3;

 private:
  const Sparsity* code_kind_;
};
TORCH_MODULE(SparseAutoencoder);

}  // namespace sae
