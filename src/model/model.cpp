#include "sae/model/model.hpp"

#include "sae/data/image_size.hpp"

#include <cmath>

namespace sae {

using torch::nn::Conv2dOptions;
using torch::nn::ConvTranspose2dOptions;

SparseAutoencoderImpl::SparseAutoencoderImpl(CodeSpec code)
    : enc1(Conv2dOptions(1, 16, /*kernel_size=*/3).stride(2).padding(1)),
      enc2(Conv2dOptions(16, 32, /*kernel_size=*/3).stride(2).padding(1)),
      enc3(Conv2dOptions(32, kCodeSize, /*kernel_size=*/7)),
      dec1(ConvTranspose2dOptions(kCodeSize, 32, /*kernel_size=*/7)),
      dec2(
          ConvTranspose2dOptions(32, 16, /*kernel_size=*/3).stride(2).padding(1).output_padding(1)),
      dec3(ConvTranspose2dOptions(16, 1, /*kernel_size=*/3).stride(2).padding(1).output_padding(1)),
      code_(code) {
  register_module("enc1", enc1);
  register_module("enc2", enc2);
  register_module("enc3", enc3);
  register_module("dec1", dec1);
  register_module("dec2", dec2);
  register_module("dec3", dec3);
  if (code_.kind == CodeKind::kJumpRelu) {
    code_tensors_.theta =
        register_parameter("threshold", torch::full({kCodeSize}, code_.threshold_init));
  }
  if (code_.kind == CodeKind::kBatchTopK) {
    code_tensors_.threshold = register_buffer("threshold", torch::zeros({1}));
  }
}

torch::Tensor SparseAutoencoderImpl::pre_activation(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == kImageSide &&
                  images.size(3) == kImageSide,
              "SparseAutoencoder expects images of shape (B, 1, 28, 28), got ", images.sizes());
  auto x = torch::relu(enc1(images));  // (B, 16, 14, 14)
  x = torch::relu(enc2(x));            // (B, 32, 7, 7)
  return enc3(x).flatten(1);           // (B, 64, 1, 1) -> (B, 64)
}

torch::Tensor SparseAutoencoderImpl::activate(const torch::Tensor& z) {
  return code_kind().activation(z, code_, code_tensors_, is_training());
}

torch::Tensor SparseAutoencoderImpl::encode(const torch::Tensor& images) {
  return activate(pre_activation(images));
}

torch::Tensor SparseAutoencoderImpl::decode(const torch::Tensor& code) {
  TORCH_CHECK(code.dim() == 2 && code.size(1) == kCodeSize,
              "SparseAutoencoder::decode expects codes of shape (B, 64), got ", code.sizes());
  auto x = code.view({code.size(0), kCodeSize, 1, 1});  // (B, 64, 1, 1)
  x = torch::relu(dec1(x));                             // (B, 32, 7, 7)
  x = torch::relu(dec2(x));                             // (B, 16, 14, 14)
  return torch::sigmoid(dec3(x));                       // (B, 1, 28, 28)
}

AutoencoderOutput SparseAutoencoderImpl::forward(const torch::Tensor& images) {
  auto pre = pre_activation(images);
  auto code = activate(pre);
  return {decode(code), code, pre};
}

}  // namespace sae
