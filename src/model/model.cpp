#include "sae/model/model.hpp"

#include "sae/data/idx_file.hpp"

#include "sae/model/fast_layers.hpp"

namespace sae {

using torch::nn::Conv2dOptions;
using torch::nn::ConvTranspose2dOptions;

SparseAutoencoderImpl::SparseAutoencoderImpl()
    : enc1(Conv2dOptions(1, 16, /*kernel_size=*/3).stride(2).padding(1)),
      enc2(Conv2dOptions(16, 32, /*kernel_size=*/3).stride(2).padding(1)),
      enc3(Conv2dOptions(32, kCodeSize, /*kernel_size=*/7)),
      dec1(ConvTranspose2dOptions(kCodeSize, 32, /*kernel_size=*/7)),
      dec2(
          ConvTranspose2dOptions(32, 16, /*kernel_size=*/3).stride(2).padding(1).output_padding(1)),
      dec3(
          ConvTranspose2dOptions(16, 1, /*kernel_size=*/3).stride(2).padding(1).output_padding(1)) {
  register_module("enc1", enc1);
  register_module("enc2", enc2);
  register_module("enc3", enc3);
  register_module("dec1", dec1);
  register_module("dec2", dec2);
  register_module("dec3", dec3);
}

torch::Tensor SparseAutoencoderImpl::encode_with(const torch::Tensor& images, bool fast) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == kImageSide &&
                  images.size(3) == kImageSide,
              "SparseAutoencoder expects images of shape (B, 1, 28, 28), got ", images.sizes());
  auto x = torch::relu(enc1(images));                                  // (B, 16, 14, 14)
  x = torch::relu(enc2(x));                                            // (B, 32, 7, 7)
  x = fast ? full_kernel_conv(x, enc3->weight, enc3->bias) : enc3(x);  // (B, 64, 1, 1)
  return torch::sigmoid(x).flatten(1);  // (B, 64): sigmoid keeps every rho_hat_j in (0, 1)
}

torch::Tensor SparseAutoencoderImpl::decode_with(const torch::Tensor& code, bool fast) {
  TORCH_CHECK(code.dim() == 2 && code.size(1) == kCodeSize,
              "SparseAutoencoder::decode expects codes of shape (B, 64), got ", code.sizes());
  auto x = code.view({code.size(0), kCodeSize, 1, 1});  // (B, 64, 1, 1)
  if (!fast) {
    x = torch::relu(dec1(x));        // (B, 32, 7, 7)
    x = torch::relu(dec2(x));        // (B, 16, 14, 14)
    return torch::sigmoid(dec3(x));  // (B, 1, 28, 28)
  }
  x = torch::relu(point_transposed_conv(x, dec1->weight, dec1->bias));       // (B, 32, 7, 7)
  x = torch::relu(upsampling_transposed_conv(x, dec2->weight, dec2->bias));  // (B, 16, 14, 14)
  return torch::sigmoid(upsampling_transposed_conv(x, dec3->weight, dec3->bias));  // (B,1,28,28)
}

torch::Tensor SparseAutoencoderImpl::encode(const torch::Tensor& images) {
  return encode_with(images, images.is_cpu());
}

torch::Tensor SparseAutoencoderImpl::decode(const torch::Tensor& code) {
  return decode_with(code, code.is_cpu());
}

AutoencoderOutput SparseAutoencoderImpl::forward(const torch::Tensor& images) {
  auto code = encode(images);
  return {decode(code), code};
}

AutoencoderOutput SparseAutoencoderImpl::forward_reference(const torch::Tensor& images) {
  auto code = encode_with(images, /*fast=*/false);
  return {decode_with(code, /*fast=*/false), code};
}

}  // namespace sae
