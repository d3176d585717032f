#include "sae/model/fast_layers.hpp"

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
  const auto pixel_bias = bias.unsqueeze(1).expand({cout, kh * kw}).reshape({cout * kh * kw});
  const auto out = torch::addmm(pixel_bias, x.flatten(1), weight.flatten(1));  // (B, Cout*k*k)
  return out.view({x.size(0), cout, kh, kw});
}

torch::Tensor upsampling_transposed_conv(const torch::Tensor& x, const torch::Tensor& weight,
                                         const torch::Tensor& bias) {
  TORCH_CHECK(weight.size(2) == 3 && weight.size(3) == 3,
              "upsampling_transposed_conv: expects a 3x3 kernel, got ", weight.sizes());
  // Output pixel (2i + a, 2j + b) takes input rows i (+1) and columns j (+1) through the taps:
  //   a = 0: row i with ky = 1;  a = 1: row i with ky = 2, row i + 1 with ky = 0  (same for b, kx)
  // so phase (a, b) is a 2x2 convolution of the input padded by one row and column at the end.
  // kPhaseTaps[2a + b][2dy + dx] is the tap ky * 3 + kx that kernel entry (dy, dx) of phase (a, b)
  // takes, or 9 for none: one gather builds all four kernels (one op to differentiate, not 36).
  static const std::vector<int64_t> kPhaseTaps = {4, 9, 9, 9,   // a=0 b=0
                                                  5, 3, 9, 9,   // a=0 b=1
                                                  7, 9, 1, 9,   // a=1 b=0
                                                  8, 6, 2, 0};  // a=1 b=1
  const int64_t cin = weight.size(0), cout = weight.size(1);
  const auto taps = torch::constant_pad_nd(weight.transpose(0, 1).reshape({cout, cin, 9}), {0, 1});
  const auto phases = taps.index_select(2, torch::tensor(kPhaseTaps, torch::kInt64))  // (Co,Ci,16)
                          .view({cout, cin, 4, 2, 2})
                          .transpose(1, 2)
                          .reshape({cout * 4, cin, 2, 2});  // channel c * 4 + 2a + b
  const auto phase_bias = bias.unsqueeze(1).expand({cout, 4}).reshape({cout * 4});
  const auto out = torch::conv2d(torch::constant_pad_nd(x, {0, 1, 0, 1}), phases, phase_bias);
  return torch::pixel_shuffle(out, /*upscale_factor=*/2);  // (B, Cout, 2H, 2W)
}

}  // namespace sae
