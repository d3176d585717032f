#include "sae/fast_layers.hpp"

namespace sae {

torch::Tensor full_kernel_conv(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias) {
  TORCH_CHECK(x.size(2) == weight.size(2) && x.size(3) == weight.size(3),
              "full_kernel_conv: the kernel must cover the input, got input ", x.sizes(),
              " and weight ", weight.sizes());
  const auto out = torch::addmm(bias, x.flatten(1), weight.flatten(1).t());  // (B, Cout)
  return out.view({x.size(0), weight.size(0), 1, 1});
}

torch::Tensor point_transposed_conv(const torch::Tensor& x, const torch::Tensor& weight,
                                    const torch::Tensor& bias) {
  TORCH_CHECK(x.size(2) == 1 && x.size(3) == 1, "point_transposed_conv: expects a 1x1 input, got ",
              x.sizes());
  const int64_t cout = weight.size(1), kh = weight.size(2), kw = weight.size(3);
  // Each output channel's bias repeats over its k x k pixels.
  const auto out = torch::addmm(bias.repeat_interleave(kh * kw), x.flatten(1),
                                weight.flatten(1));  // (B, Cout * k * k)
  return out.view({x.size(0), cout, kh, kw});
}

torch::Tensor upsampling_transposed_conv(const torch::Tensor& x, const torch::Tensor& weight,
                                         const torch::Tensor& bias) {
  TORCH_CHECK(weight.size(2) == 3 && weight.size(3) == 3,
              "upsampling_transposed_conv: expects a 3x3 kernel, got ", weight.sizes());
  // Output pixel (2i + a, 2j + b) takes input rows i (+1) and columns j (+1) through the taps:
  //   a = 0: row i with ky = 1;  a = 1: row i with ky = 2, row i + 1 with ky = 0  (same for b, kx)
  // so phase (a, b) is a 2x2 convolution of the input padded by one row and column at the end.
  const auto w = weight.transpose(0, 1);  // (Cout, Cin, 3, 3)
  const auto tap = [&](int64_t ky, int64_t kx) { return w.select(2, ky).select(2, kx); };
  const auto zero = torch::zeros_like(tap(0, 0));  // (Cout, Cin)
  const auto kernel = [](const torch::Tensor& k00, const torch::Tensor& k01,
                         const torch::Tensor& k10, const torch::Tensor& k11) {
    return torch::stack({torch::stack({k00, k01}, -1), torch::stack({k10, k11}, -1)}, -2);
  };                                                                           // (Cout, Cin, 2, 2)
  const auto phases = torch::stack({kernel(tap(1, 1), zero, zero, zero),       // a=0 b=0
                                    kernel(tap(1, 2), tap(1, 0), zero, zero),  // a=0 b=1
                                    kernel(tap(2, 1), zero, tap(0, 1), zero),  // a=1 b=0
                                    kernel(tap(2, 2), tap(2, 0), tap(0, 2), tap(0, 0))},  // a=1 b=1
                                   /*dim=*/1);  // (Cout, 4, Cin, 2, 2): channel c * 4 + 2a + b
  const auto out = torch::conv2d(torch::constant_pad_nd(x, {0, 1, 0, 1}), phases.flatten(0, 1),
                                 bias.repeat_interleave(4));  // (B,4Cout,H,W)
  return torch::pixel_shuffle(out, /*upscale_factor=*/2);     // (B, Cout, 2H, 2W)
}

}  // namespace sae
