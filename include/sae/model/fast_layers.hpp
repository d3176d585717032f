#pragma once
// The original model's layers rewritten as the operations LibTorch's CPU backend runs fastest: the
// same arithmetic (to float rounding), the same parameters, autograd as usual.
//
// LibTorch 1.13 runs ConvTranspose2d on the CPU through slow_conv_transpose2d (im2col + GEMM +
// col2im); with its backward it takes about 3/4 of a training step. Ordinary convolutions go
// through MKL-DNN and matrix products through BLAS, both several times faster.

#include <torch/torch.h>

namespace sae {

/// Conv2d whose kernel covers the whole input (enc3: 32x7x7 -> 64x1x1) as one matrix product.
torch::Tensor full_kernel_conv(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias);  // (B, Cin, k, k) -> (B, Cout, 1, 1)

/// ConvTranspose2d over a 1x1 input (dec1: 64x1x1 -> 32x7x7) as one matrix product.
torch::Tensor point_transposed_conv(
    const torch::Tensor& x, const torch::Tensor& weight,
    const torch::Tensor& bias);  // (B, Cin, 1, 1) -> (B, Cout, k, k)

/// ConvTranspose2d(kernel 3, stride 2, padding 1, output_padding 1) as one 2x2 convolution with
/// 4x the output channels, followed by a pixel shuffle: each of the four output phases of a
/// stride-2 transposed convolution is an ordinary convolution of the input.
torch::Tensor upsampling_transposed_conv(
    const torch::Tensor& x, const torch::Tensor& weight,
    const torch::Tensor& bias);  // (B,Cin,H,W) -> (B,Cout,2H,2W)

}  // namespace sae
