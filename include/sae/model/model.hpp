#pragma once
// The original model's convolutional sparse autoencoder, with its layer names.

#include <torch/torch.h>

namespace sae {

/// Units in the sparse code: enc3's 64 output channels at 1x1.
constexpr int64_t kCodeSize = 64;

/// What one forward pass produces.
struct AutoencoderOutput {
  torch::Tensor reconstruction;  // (B, 1, 28, 28) in (0, 1)
  torch::Tensor code;            // (B, 64) in (0, 1)
};

/// enc1..enc3 convolutions down to a 64-unit sigmoid code, dec1..dec3 transposed convolutions
/// back up to a 28x28 sigmoid image. Parameter names match the original PyTorch module's. On the
/// CPU, enc3 and dec1..dec3 run through fast_layers.hpp; elsewhere through the torch::nn layers.
class SparseAutoencoderImpl : public torch::nn::Module {
 public:
  SparseAutoencoderImpl();

  /// Encodes and decodes a batch of images (B, 1, 28, 28).
  AutoencoderOutput forward(const torch::Tensor& images);
  /// The sparse code of a batch of images: (B, 1, 28, 28) -> (B, 64).
  torch::Tensor encode(const torch::Tensor& images);
  /// The image a batch of codes draws: (B, 64) -> (B, 1, 28, 28).
  torch::Tensor decode(const torch::Tensor& code);
  /// forward through the plain torch::nn layers only; the fast path is checked against it.
  AutoencoderOutput forward_reference(const torch::Tensor& images);

  torch::nn::Conv2d enc1, enc2, enc3;
  torch::nn::ConvTranspose2d dec1, dec2, dec3;

 private:
  torch::Tensor encode_with(const torch::Tensor& images, bool fast);
  torch::Tensor decode_with(const torch::Tensor& code, bool fast);
};
TORCH_MODULE(SparseAutoencoder);

}  // namespace sae
