#pragma once
// The loops around the hand-written CPU step's matrix products (cpu_step.cpp): the 3x3 patches of
// a stride-2 layer (im2col and its adjoint col2im) and the bias, ReLU and bias-gradient passes,
// fused where they meet so that each buffer is read once while it is in cache. Maps are
// channels-last, one (side, side, C) block per image; a layer has kernel 3, stride 2, padding 1,
// and half = side / 2. Channel counts of 1, 16, 32 and 64 take loops compiled for them.

#include <cstdint>

namespace sae {

/// cols (images * half * half, 9 * C) <- the 3x3 patches of `map` (images, side, side, C) around
/// pixels (2oy, 2ox), tap-major; taps outside the map are 0 (padding 1).
void im2col(const float* map, int64_t images, int64_t side, int64_t channels, float* cols);

/// map (images, side, side, C) <- bias (none: 0) + the adjoint of im2col: each pixel sums the
/// entries of `cols` that im2col copies it to, then max(., 0) when `relu`. This is also the
/// transposed convolution (kernel 3, stride 2, padding 1, output padding 1) of cols = x . W.
/// (The step always passes a bias; a null one is the plain adjoint, which the tests check.)
void col2im(const float* cols, int64_t images, int64_t side, int64_t channels, const float* bias,
            bool relu, float* map);

/// The backward pass of a layer's input through its ReLU: d_map <- col2im(d_cols) where the
/// ReLU's output `out` (images, side, side, C) was positive, else 0; bias_sum (C) += the sum of
/// d_map's rows.
void col2im_relu_backward(const float* d_cols, int64_t images, int64_t side, int64_t channels,
                          const float* out, float* d_map, double* bias_sum);

/// x (rows, C) <- x + bias.
void add_bias(float* x, int64_t rows, int64_t channels, const float* bias);

/// x (rows, C) <- max(x + bias, 0).
void add_bias_relu(float* x, int64_t rows, int64_t channels, const float* bias);

/// grad (rows, C) <- grad where the ReLU's output `out` was positive, else 0; then, unless
/// bias_sum is null, bias_sum (C) += the sum of grad's rows.
void relu_backward(float* grad, const float* out, int64_t rows, int64_t channels, double* bias_sum);

/// sum (C) += the sum over rows of x (rows, C): a bias's gradient. Summed in double: dec3's bias
/// sums 784 pixels per image, whose float sum would drift by more than float rounding.
void sum_rows(const float* x, int64_t rows, int64_t channels, double* sum);

}  // namespace sae
