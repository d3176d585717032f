#pragma once
// The original model's convolutional sparse autoencoder, with its layer names.

#include <torch/torch.h>

#include "sae/model/code.hpp"

namespace sae {

/// What one forward pass produces.
struct AutoencoderOutput {
  torch::Tensor reconstruction;  // (B, 1, 28, 28) in (0, 1)
  torch::Tensor code;            // (B, 64): the code h
  torch::Tensor pre;             // (B, 64): enc3's output z, from which the code is made
};

/// enc1..enc3 convolutions down to a 64-unit code, dec1..dec3 transposed convolutions back up to
/// a 28x28 sigmoid image, as torch::nn layers on every device: the reference that CpuStep (the
/// CPU's kernel) is held to. Parameter names match the original PyTorch module's; a jumprelu
/// code adds the parameter "threshold" (64), a batchtopk code the buffer "threshold" (1).
class SparseAutoencoderImpl : public torch::nn::Module {
 public:
  /// The code is enc3's output z through the activation of `code` (code.hpp).
  explicit SparseAutoencoderImpl(CodeSpec code = {});

  /// Encodes and decodes a batch of images (B, 1, 28, 28).
  AutoencoderOutput forward(const torch::Tensor& images);
  /// The sparse code of a batch of images: (B, 1, 28, 28) -> (B, 64).
  torch::Tensor encode(const torch::Tensor& images);
  /// enc3's output z before the code's activation: (B, 1, 28, 28) -> (B, 64).
  torch::Tensor pre_activation(const torch::Tensor& images);
  /// The code of pre-activations z (B, 64); in training mode, batchtopk's threshold moves.
  torch::Tensor activate(const torch::Tensor& z);
  /// The image a batch of codes draws: (B, 64) -> (B, 1, 28, 28).
  torch::Tensor decode(const torch::Tensor& code);

  /// The kind of code, whose activation encode applies.
  const Code& code_kind() const { return code_of(code_.kind); }
  /// The kind and its settings.
  const CodeSpec& code_spec() const { return code_; }
  /// The tensors the kind learns or keeps (undefined where it has none).
  const CodeTensors& code_tensors() const { return code_tensors_; }

  torch::nn::Conv2d enc1, enc2, enc3;
  torch::nn::ConvTranspose2d dec1, dec2, dec3;

 private:
  CodeSpec code_;
  CodeTensors code_tensors_;
};
TORCH_MODULE(SparseAutoencoder);

}  // namespace sae
