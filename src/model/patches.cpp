#include "sae/model/patches.hpp"

#include <algorithm>
#include <type_traits>

// Each function body is a template on the channel count: with it known at compile time, the
// per-pixel copies and sums of C floats become a few vector instructions instead of a loop (kC = 0
// stands for "any", read at run time). For a pixel (oy, ox) of the half-size map, the three taps
// of kernel row ky cover full-size pixels 2ox-1 .. 2ox+1 of row 2oy-1+ky: 3C contiguous floats of
// a channels-last map, so im2col copies them and col2im adds them back in one piece.

namespace sae {
namespace {

/// Calls body(std::integral_constant<int64_t, C>) for a channel count the step uses, else with 0.
template <typename Body>
void with_channels(int64_t channels, const Body& body) {
  switch (channels) {
    case 1:
      return body(std::integral_constant<int64_t, 1>{});
    case 16:
      return body(std::integral_constant<int64_t, 16>{});
    case 32:
      return body(std::integral_constant<int64_t, 32>{});
    case 64:
      return body(std::integral_constant<int64_t, 64>{});
    default:
      return body(std::integral_constant<int64_t, 0>{});
  }
}

/// cols (half * half, 9 * C) <- one image's patches (im2col).
template <int64_t kC>
void im2col_image(const float* __restrict image, int64_t side, int64_t channels,
                  float* __restrict cols) {
  const int64_t C = kC != 0 ? kC : channels;
  const int64_t half = side / 2;
  // Plain loops, not std::copy_n: with C known they become vector moves, not memmove calls.
  for (int64_t oy = 0; oy < half; ++oy) {
    for (int64_t ox = 0; ox < half; ++ox) {
      for (int64_t ky = 0; ky < 3; ++ky, cols += 3 * C) {
        const int64_t iy = 2 * oy - 1 + ky;  // never >= side
        if (iy < 0) {
          for (int64_t i = 0; i < 3 * C; ++i) cols[i] = 0.0f;
          continue;
        }
        const float* row = image + iy * side * C;
        if (ox == 0) {  // tap kx = 0 falls left of the map
          for (int64_t i = 0; i < C; ++i) cols[i] = 0.0f;
          for (int64_t i = 0; i < 2 * C; ++i) cols[C + i] = row[i];
        } else {
          const float* src = row + (2 * ox - 1) * C;
          for (int64_t i = 0; i < 3 * C; ++i) cols[i] = src[i];
        }
      }
    }
  }
}

/// map (side, side, C) += the adjoint of im2col of one image's patches.
template <int64_t kC>
void add_patches(const float* __restrict cols, int64_t side, int64_t channels,
                 float* __restrict map) {
  const int64_t C = kC != 0 ? kC : channels;
  const int64_t half = side / 2;
  for (int64_t oy = 0; oy < half; ++oy) {
    for (int64_t ox = 0; ox < half; ++ox, cols += 9 * C) {
      for (int64_t ky = 0; ky < 3; ++ky) {
        const int64_t iy = 2 * oy - 1 + ky;
        if (iy < 0) continue;
        const float* src = cols + ky * 3 * C;
        float* row = map + iy * side * C;
        if (ox == 0) {  // tap kx = 0 fell left of the map
          for (int64_t i = 0; i < 2 * C; ++i) row[i] += src[C + i];
        } else {
          float* dst = row + (2 * ox - 1) * C;
          for (int64_t i = 0; i < 3 * C; ++i) dst[i] += src[i];
        }
      }
    }
  }
}

/// sum (C) += the sum over rows of x (rows, C); with C known, the partial sums stay in registers.
template <int64_t kC>
void sum_rows_into(const float* x, int64_t rows, int64_t channels, double* sum) {
  if constexpr (kC == 0) {
    for (int64_t r = 0; r < rows; ++r, x += channels) {
      for (int64_t c = 0; c < channels; ++c) sum[c] += x[c];
    }
  } else {
    double acc[kC];
    for (int64_t c = 0; c < kC; ++c) acc[c] = sum[c];
    for (int64_t r = 0; r < rows; ++r, x += kC) {
      for (int64_t c = 0; c < kC; ++c) acc[c] += x[c];
    }
    for (int64_t c = 0; c < kC; ++c) sum[c] = acc[c];
  }
}

/// grad (rows, C) <- grad where out > 0, else 0; then sum += its rows' sum unless sum is null.
template <int64_t kC>
void relu_backward_rows(float* __restrict grad, const float* __restrict out, int64_t rows,
                        int64_t channels, double* sum) {
  const int64_t C = kC != 0 ? kC : channels;
  for (int64_t i = 0; i < rows * C; ++i) grad[i] = out[i] > 0.0f ? grad[i] : 0.0f;
  if (sum != nullptr) sum_rows_into<kC>(grad, rows, channels, sum);
}

}  // namespace

void im2col(const float* map, int64_t images, int64_t side, int64_t channels, float* cols) {
  const int64_t half = side / 2;
  with_channels(channels, [&](auto known) {
    for (int64_t b = 0; b < images; ++b) {
      im2col_image<decltype(known)::value>(map + b * side * side * channels, side, channels,
                                           cols + b * half * half * 9 * channels);
    }
  });
}

void col2im(const float* cols, int64_t images, int64_t side, int64_t channels, const float* bias,
            bool relu, float* map) {
  const int64_t half = side / 2, pixels = side * side;
  with_channels(channels, [&](auto known) {
    constexpr int64_t kC = decltype(known)::value;
    const int64_t C = kC != 0 ? kC : channels;
    for (int64_t b = 0; b < images; ++b) {
      float* image = map + b * pixels * C;
      for (int64_t p = 0; p < pixels; ++p) {
        for (int64_t c = 0; c < C; ++c) image[p * C + c] = bias != nullptr ? bias[c] : 0.0f;
      }
      add_patches<kC>(cols + b * half * half * 9 * C, side, C, image);
      if (relu) {
        for (int64_t i = 0; i < pixels * C; ++i) image[i] = std::max(image[i], 0.0f);
      }
    }
  });
}

void col2im_relu_backward(const float* d_cols, int64_t images, int64_t side, int64_t channels,
                          const float* out, float* d_map, double* bias_sum) {
  const int64_t half = side / 2, pixels = side * side;
  with_channels(channels, [&](auto known) {
    constexpr int64_t kC = decltype(known)::value;
    for (int64_t b = 0; b < images; ++b) {
      // One image at a time, so that its map is still in cache for the mask and the sums.
      float* image = d_map + b * pixels * channels;
      std::fill_n(image, pixels * channels, 0.0f);
      add_patches<kC>(d_cols + b * half * half * 9 * channels, side, channels, image);
      relu_backward_rows<kC>(image, out + b * pixels * channels, pixels, channels, bias_sum);
    }
  });
}

void add_bias(float* x, int64_t rows, int64_t channels, const float* bias) {
  with_channels(channels, [&](auto known) {
    const int64_t C = decltype(known)::value != 0 ? decltype(known)::value : channels;
    for (int64_t r = 0; r < rows; ++r, x += C) {
      for (int64_t c = 0; c < C; ++c) x[c] += bias[c];
    }
  });
}

void add_bias_relu(float* x, int64_t rows, int64_t channels, const float* bias) {
  with_channels(channels, [&](auto known) {
    const int64_t C = decltype(known)::value != 0 ? decltype(known)::value : channels;
    for (int64_t r = 0; r < rows; ++r, x += C) {
      for (int64_t c = 0; c < C; ++c) x[c] = std::max(x[c] + bias[c], 0.0f);
    }
  });
}

void relu_backward(float* grad, const float* out, int64_t rows, int64_t channels,
                   double* bias_sum) {
  with_channels(channels, [&](auto known) {
    relu_backward_rows<decltype(known)::value>(grad, out, rows, channels, bias_sum);
  });
}

void sum_rows(const float* x, int64_t rows, int64_t channels, double* sum) {
  with_channels(channels,
                [&](auto known) { sum_rows_into<decltype(known)::value>(x, rows, channels, sum); });
}

}  // namespace sae
