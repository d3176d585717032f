#include "sae/model/cpu_step.hpp"

#include "sae/data/image_size.hpp"
#include "sae/model/gemm.hpp"
#include "sae/model/patches.hpp"

#include <algorithm>
#include <chrono>

// Layout. Activations are stored channels-last, one block of rows per image: a (C, H, W) map is
// H*W rows of C floats. A strided layer (kernel 3, stride 2, padding 1) between a side x side map
// and a half x half one is then a matrix product with "cols", the 3x3 patches of the larger map:
//   conv (enc1, enc2):            cols = im2col(x) (B*half*half, 9*C);  z = cols . W^T
//   transposed conv (dec2, dec3): cols = x . W    (B*half*half, 9*C);  z = col2im(cols)
// col2im is the adjoint of im2col, so each layer's backward pass uses the other one. Every weight
// (A, B, 3, 3) or (A, B, 7, 7) is re-laid as (A, k*k*B), tap-major, to match: W.permute(0,2,3,1).
//
// Each thread takes a chunk of the batch. Within it the convolutions (enc1, enc2, dec2, dec3) run
// a slice of kSliceImages images at a time, forward and backward, so that their patches, outputs
// and gradients live in the chunk's scratch, which stays in cache from one product to the next;
// the dense layers (enc3, dec1) run over the whole chunk, whose rows of h2, h4, the code and their
// gradients are kept for them, as is h1 for enc1's and enc2's backward pass.
//
// Shapes per image (B images in all; `n` in a chunk or a slice):
//   x      (784)            the input, 28x28
//   cols1  (196, 9)         im2col(x)
//   h1     (196, 16)        relu(cols1 . W1^T + b1)          enc1: 14x14x16
//   cols2  (49, 144)        im2col(h1)
//   h2     (49, 32)=(1568)  relu(cols2 . W2^T + b2)          enc2: 7x7x32
//   pre    (64)             h2 . W3^T + b3                   enc3: z
//   code   (64)             act(z) over the whole batch      the code h (code.hpp)
//   h4     (1568)=(49, 32)  relu(code . W4 + b4)             dec1: 7x7x32
//   cols5  (49, 144)        h4 . W5
//   h5     (196, 16)        relu(col2im(cols5) + b5)         dec2: 14x14x16
//   cols6  (196, 9)         h5 . W6
//   recon  (784)            sigmoid(col2im(cols6) + b6)      dec3: 28x28
//
// Loss: mse = sum (recon - x)^2 / (B*784);  total = mse + beta * penalty(rho_hat) + lambda * own +
// aux_weight * aux, with rho_hat_j = mean_b code_bj. The penalty's gradient reaches code_bj as
// beta * penalty'(rho_hat_j) / B, the same for every image, so it is computed once between the
// encoder and the decoder, where the code's activation also runs over the whole batch (BatchTopK
// selects across images). `own` is the code's own penalty (jumprelu's L0); `aux` is AuxK's MSE
// of decoding h + a (loss.hpp), a second pass through the decoder taken only while units are dead.

namespace sae {
namespace {

constexpr int64_t kSide = kImageSide;       // 28
constexpr int64_t kHalf = kSide / 2;        // 14
constexpr int64_t kQuarter = kSide / 4;     // 7
constexpr int64_t kPixels = kSide * kSide;  // 784
constexpr int64_t kTaps = 9;                // 3x3 kernel
constexpr int64_t kMinImagesPerChunk = 16;  // below this, a thread costs more than it gives
constexpr int64_t kLayers = 6;
// Images per slice of the convolutions. A slice's buffers, ~115 KB an image in the decoder's
// pass, then stay in L2 or close to it where a whole chunk's went out to memory: on this
// project's Xeon the step took ~20% less time with slices of 8 or 16 than with none, and more
// with 32. The GEMM-only bound (tools/gemm_bound.cpp) takes the same slices.
constexpr int64_t kSliceImages = 16;
constexpr int64_t kRelayGrain = 32768;  // floats per thread's task in the re-layouts and sums

float* ptr(const torch::Tensor& t) {
  return t.data_ptr<float>();
}

/// work(chunk, begin, end) for each chunk of images, the chunks side by side on the threads.
template <typename Work>
void each_chunk(const std::vector<std::pair<int64_t, int64_t>>& parts, const Work& work) {
  at::parallel_for(0, static_cast<int64_t>(parts.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) work(c, parts[c].first, parts[c].second);
  });
}

/// param.grad(), allocated the first time.
float* grad_of(const torch::Tensor& param) {
  auto& grad = const_cast<torch::Tensor&>(param).mutable_grad();
  if (!grad.defined()) grad = torch::zeros_like(param);
  TORCH_CHECK(grad.is_contiguous() && grad.sizes() == param.sizes(),
              "CpuStep: a parameter's gradient must be contiguous and of its shape");
  return ptr(grad);
}

/// dst (A, taps, B) <- src (A, B, taps): a weight (A, B, k, k) re-laid tap-major, as
/// W.permute(0, 2, 3, 1); or, with `back`, src (A, taps, B) -> dst (A, B, taps). Rows a are shared
/// among the threads. A loop of its own: LibTorch's strided copy took 3x as long.
void relay(const float* src, int64_t rows, int64_t channels, int64_t taps, float* dst, bool back) {
  const int64_t size = channels * taps;
  at::parallel_for(0, rows, std::max<int64_t>(1, kRelayGrain / size),
                   [&](int64_t first, int64_t last) {
                     for (int64_t a = first; a < last; ++a) {
                       const float* from = src + a * size;
                       float* to = dst + a * size;
                       for (int64_t c = 0; c < channels; ++c) {
                         for (int64_t t = 0; t < taps; ++t) {
                           if (back) {
                             to[c * taps + t] = from[t * channels + c];
                           } else {
                             to[t * channels + c] = from[c * taps + t];
                           }
                         }
                       }
                     }
                   });
}

}  // namespace

CpuStep::CpuStep(SparseAutoencoder model) : model_(std::move(model)) {
  int64_t offset = 0;
  const auto w = weights();
  const auto b = biases();
  for (int64_t i = 0; i < kLayers; ++i) {
    weight_offset_[i] = offset;
    offset += w[i].numel();
    bias_offset_[i] = offset;
    offset += b[i].numel();
  }
  if (code_tensors().theta.defined()) {
    theta_offset_ = offset;
    offset += kCodeSize;
  }
  parameter_count_ = offset;
}

std::array<torch::Tensor, 6> CpuStep::weights() const {
  return {model_->enc1->weight, model_->enc2->weight, model_->enc3->weight,
          model_->dec1->weight, model_->dec2->weight, model_->dec3->weight};
}

std::array<torch::Tensor, 6> CpuStep::biases() const {
  return {model_->enc1->bias, model_->enc2->bias, model_->enc3->bias,
          model_->dec1->bias, model_->dec2->bias, model_->dec3->bias};
}

std::vector<std::pair<int64_t, int64_t>> CpuStep::chunks(int64_t batch) const {
  if (batch == 0) return {};
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t count = std::max<int64_t>(1, std::min(threads, batch / kMinImagesPerChunk));
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t c = 0; c < count; ++c) out.emplace_back(batch * c / count, batch * (c + 1) / count);
  return out;
}

void CpuStep::prepare(const torch::Tensor& images, int64_t chunk_count) {
  TORCH_CHECK(images.is_cpu() && images.scalar_type() == torch::kFloat32 && images.dim() == 4 &&
                  images.size(1) == 1 && images.size(2) == kSide && images.size(3) == kSide,
              "CpuStep expects float CPU images of shape (B, 1, 28, 28), got ", images.sizes());
  reserve(images.size(0), chunk_count);
  input_ = images.data_ptr<float>();
}

void CpuStep::reserve(int64_t batch, int64_t chunk_count) {
  const auto f32 = torch::TensorOptions(torch::kFloat32);
  constexpr int64_t kBig = kHalf * kHalf, kSmall = kQuarter * kQuarter;  // 196, 49 pixels
  if (batch > capacity_) {
    capacity_ = batch;
    const auto make = [&](int64_t rows_per_image, int64_t cols) {
      return torch::empty({batch * rows_per_image, cols}, f32);
    };
    h1_ = make(kBig, 16);
    h2_ = make(1, kSmall * 32);
    pre_ = make(1, kCodeSize);
    code_ = make(1, kCodeSize);
    h4_ = make(1, kSmall * 32);
    recon_ = make(1, kPixels);
    aux_ = make(1, kCodeSize);
    aux_input_ = make(1, kCodeSize);
    d_aux_ = make(1, kCodeSize);
    d_h4_ = make(1, kSmall * 32);
    d_h4_aux_ = make(1, kSmall * 32);
    d_code_ = make(1, kCodeSize);
    d_h2_ = make(1, kSmall * 32);
  }
  while (static_cast<int64_t>(scratch_.size()) < chunk_count) {
    const auto make = [&](int64_t rows_per_image, int64_t cols) {
      return torch::empty({kSliceImages * rows_per_image, cols}, f32);
    };
    scratch_.push_back({make(kBig, kTaps), make(kBig, 16), make(kSmall, kTaps * 16),
                        make(kSmall, kTaps * 16), make(kBig, 16), make(kBig, kTaps),
                        make(1, kPixels), make(kBig, kTaps), make(kBig, 16),
                        make(kSmall, kTaps * 16), make(kSmall, kTaps * 16), make(kBig, 16)});
  }
  if (!grads_.defined() || grads_.size(0) < std::max<int64_t>(1, chunk_count)) {
    grads_ = torch::empty({std::max<int64_t>(1, chunk_count), parameter_count_}, f32);
  }
  squared_error_.assign(static_cast<size_t>(chunk_count), 0.0);
  own_sum_.assign(static_cast<size_t>(chunk_count), 0.0);
  aux_squared_error_.assign(static_cast<size_t>(chunk_count), 0.0);

  // Each weight (A, B, k, k) re-laid as (A, k*k*B), tap-major: W.permute(0, 2, 3, 1).
  const auto w = weights();
  for (int64_t i = 0; i < kLayers; ++i) {
    if (!relaid_[i].defined()) {
      relaid_[i] = torch::empty({w[i].size(0), w[i].numel() / w[i].size(0)}, f32);
    }
    const auto weight = w[i].detach().contiguous();
    relay(ptr(weight), w[i].size(0), w[i].size(1), w[i].size(2) * w[i].size(3), ptr(relaid_[i]),
          /*back=*/false);
  }
}

torch::Tensor CpuStep::rows(const torch::Tensor& buffer, int64_t begin, int64_t end) const {
  const int64_t per_image = buffer.size(0) / capacity_;
  return buffer.narrow(0, begin * per_image, (end - begin) * per_image);
}

torch::Tensor CpuStep::weight_grad(int64_t chunk, int64_t layer) const {
  return grads_[chunk]
      .narrow(0, weight_offset_[layer], relaid_[layer].numel())
      .view(relaid_[layer].sizes());
}

float* CpuStep::bias_grad(int64_t chunk, int64_t layer) const {
  return ptr(grads_[chunk]) + bias_offset_[layer];
}

float* CpuStep::theta_grad(int64_t chunk) const {
  return theta_offset_ < 0 ? nullptr : ptr(grads_[chunk]) + theta_offset_;
}

void CpuStep::activate(int64_t rows, bool training) {
  model_->code_kind().activation_cpu({ptr(pre_), ptr(code_), rows}, model_->code_spec(),
                                     code_tensors(), training);
}

CpuStep::SliceBuffers CpuStep::slice_buffers(int64_t chunk, int64_t begin, int64_t end,
                                             bool training) const {
  const int64_t images = end - begin;
  const SliceBuffers& whole = scratch_[chunk];
  const auto first = [&](const torch::Tensor& t) {
    return t.narrow(0, 0, t.size(0) / kSliceImages * images);
  };
  SliceBuffers at{first(whole.cols1),   first(whole.h1),      first(whole.cols2),
                  first(whole.cols5),   first(whole.h5),      first(whole.cols6),
                  first(whole.d_recon), first(whole.d_cols6), first(whole.d_h5),
                  first(whole.d_cols5), first(whole.d_cols2), first(whole.d_h1)};
  if (training) at.h1 = rows(h1_, begin, end);  // encoder_backward reads it after the forward
  return at;
}

void CpuStep::each_slice(int64_t chunk, int64_t begin, int64_t end, bool training,
                         const std::function<void(int64_t, int64_t, const SliceBuffers&)>& work) {
  for (int64_t first = begin; first < end; first += kSliceImages) {
    const int64_t last = std::min(first + kSliceImages, end);
    work(first, last, slice_buffers(chunk, first, last, training));
  }
}

void CpuStep::encode_chunk(int64_t chunk, int64_t begin, int64_t end, bool training) {
  const auto b = biases();
  each_slice(chunk, begin, end, training, [&](int64_t first, int64_t last, const SliceBuffers& at) {
    const int64_t n = last - first;
    const auto h2 = rows(h2_, first, last);
    im2col(input_ + first * kPixels, n, kSide, 1, ptr(at.cols1));  // (n*196, 9)
    matmul(at.h1, at.cols1, relaid_[0].t());                       // (n*196, 16)
    add_bias_relu(ptr(at.h1), n * kHalf * kHalf, 16, ptr(b[0]));
    im2col(ptr(at.h1), n, kHalf, 16, ptr(at.cols2));      // (n*49, 144)
    matmul(h2.view({-1, 32}), at.cols2, relaid_[1].t());  // (n*49, 32)
    add_bias_relu(ptr(h2), n * kQuarter * kQuarter, 32, ptr(b[1]));
  });
  // enc3, a dense layer, over the whole chunk: sgemm packs its (64, 1568) weight once, not per
  // slice.
  const auto pre = rows(pre_, begin, end);
  matmul(pre, rows(h2_, begin, end), relaid_[2].t());     // (n, 1568) . (1568, 64)
  add_bias(ptr(pre), end - begin, kCodeSize, ptr(b[2]));  // z; the code h comes from activate()
}

void CpuStep::decode_dense(const torch::Tensor& code_buffer, int64_t begin, int64_t end) {
  const auto h4 = rows(h4_, begin, end);
  matmul(h4, rows(code_buffer, begin, end), relaid_[3]);  // (n, 64) . (64, 1568)
  add_bias_relu(ptr(h4), (end - begin) * kQuarter * kQuarter, 32, ptr(biases()[3]));
}

void CpuStep::decode_slice(int64_t begin, int64_t end, const SliceBuffers& at) {
  const int64_t n = end - begin;
  const auto b = biases();
  const auto recon = rows(recon_, begin, end);
  matmul(at.cols5, rows(h4_, begin, end).view({-1, 32}), relaid_[4]);         // (n*49, 144)
  col2im(ptr(at.cols5), n, kHalf, 16, ptr(b[4]), /*relu=*/true, ptr(at.h5));  // (n*196, 16)
  matmul(at.cols6, at.h5, relaid_[5]);                                        // (n*196, 9)
  col2im(ptr(at.cols6), n, kSide, 1, ptr(b[5]), /*relu=*/false, ptr(recon));  // (n, 784)
  recon.sigmoid_();
}

void CpuStep::decode_chunk(int64_t chunk, const torch::Tensor& code_buffer, int64_t begin,
                           int64_t end) {
  decode_dense(code_buffer, begin, end);
  each_slice(
      chunk, begin, end, /*training=*/false,
      [&](int64_t first, int64_t last, const SliceBuffers& at) { decode_slice(first, last, at); });
}

double CpuStep::reconstruction_backward(int64_t begin, int64_t end, float scale,
                                        const SliceBuffers& at, double* bias_sum) {
  // MSE and sigmoid together: d total / d z6 = scale * (r - x) * r (1 - r).
  const int64_t n = end - begin;
  const float* x = input_ + begin * kPixels;
  const float* r = ptr(rows(recon_, begin, end));
  float* dz = ptr(at.d_recon);
  double squared_error = 0.0, dz_sum = 0.0;  // in double, as sum_rows sums
  for (int64_t i = 0; i < n * kPixels; ++i) {
    const float diff = r[i] - x[i];
    squared_error += static_cast<double>(diff) * diff;
    dz[i] = scale * diff * r[i] * (1.0f - r[i]);
    dz_sum += dz[i];
  }
  if (bias_sum != nullptr) *bias_sum += dz_sum;
  return squared_error;
}

double CpuStep::decoder_pass(int64_t chunk, int64_t begin, int64_t end,
                             const torch::Tensor& code_buffer, const torch::Tensor& d_h4_buffer,
                             const torch::Tensor& d_input, float scale, BiasSums* sums) {
  decode_dense(code_buffer, begin, end);  // h4
  double squared_error = 0.0;
  each_slice(
      chunk, begin, end, /*training=*/false,
      [&](int64_t first, int64_t last, const SliceBuffers& at) {
        const int64_t n = last - first;
        const bool start = first == begin;  // the chunk's weight gradients start at its first slice
        const auto h4 = rows(h4_, first, last), d_h4 = rows(d_h4_buffer, first, last);
        decode_slice(first, last, at);
        squared_error +=
            reconstruction_backward(first, last, scale, at, sums ? &(*sums)[5][0] : nullptr);
        // dec3: z6 = col2im(h5 . W6) + b6
        im2col(ptr(at.d_recon), n, kSide, 1, ptr(at.d_cols6));                   // (n*196, 9)
        if (sums) matmul(weight_grad(chunk, 5), at.h5.t(), at.d_cols6, !start);  // (16, 9)
        matmul(at.d_h5, at.d_cols6, relaid_[5].t());                             // (n*196, 16)
        relu_backward(ptr(at.d_h5), ptr(at.h5), n * kHalf * kHalf, 16,
                      sums ? (*sums)[4].data() : nullptr);
        // dec2: z5 = col2im(h4 . W5) + b5
        im2col(ptr(at.d_h5), n, kHalf, 16, ptr(at.d_cols5));  // (n*49, 144)
        if (sums)
          matmul(weight_grad(chunk, 4), h4.view({-1, 32}).t(), at.d_cols5, !start);  // (32, 144)
        matmul(d_h4.view({-1, 32}), at.d_cols5, relaid_[4].t());                     // (n*49, 32)
        relu_backward(ptr(d_h4), ptr(h4), n * kQuarter * kQuarter, 32,
                      sums ? (*sums)[3].data() : nullptr);
      });
  // dec1: z4 = code . W4 + b4, over the chunk (its weight's gradient: backward_chunk)
  matmul(rows(d_input, begin, end), rows(d_h4_buffer, begin, end), relaid_[3].t());  // (n, 64)
  return squared_error;
}

double CpuStep::aux_backward(int64_t chunk, int64_t begin, int64_t end, const SparseLoss& loss_fn) {
  const int64_t n = end - begin;
  const auto& dead = loss_fn.dead_units();
  const int64_t aux_k = std::min(loss_fn.code_terms().aux_k, kCodeSize);
  const float* z = ptr(rows(pre_, begin, end));
  const float* h = ptr(rows(code_, begin, end));
  float* a = ptr(rows(aux_, begin, end));
  float* u = ptr(rows(aux_input_, begin, end));
  // a: z on each image's aux_k largest z among the dead units it left off (aux_code).
  std::vector<int> candidates;
  for (int64_t i = 0; i < n; ++i, z += kCodeSize, h += kCodeSize, a += kCodeSize, u += kCodeSize) {
    candidates.clear();
    for (int j = 0; j < kCodeSize; ++j) {
      if (dead[j] != 0 && h[j] <= 0.0f) candidates.push_back(j);
    }
    const auto chosen = std::min<int64_t>(aux_k, static_cast<int64_t>(candidates.size()));
    if (chosen > 0 && chosen < static_cast<int64_t>(candidates.size())) {
      std::nth_element(candidates.begin(), candidates.begin() + (chosen - 1), candidates.end(),
                       [&](int p, int q) { return z[p] > z[q] || (z[p] == z[q] && p < q); });
    }
    std::fill_n(a, kCodeSize, 0.0f);
    for (int64_t c = 0; c < chosen; ++c) a[candidates[c]] = z[candidates[c]];
    for (int j = 0; j < kCodeSize; ++j) u[j] = h[j] + a[j];
  }
  const double squared_error =
      decoder_pass(chunk, begin, end, aux_input_, d_h4_aux_, d_aux_, aux_scale_, /*sums=*/nullptr);
  // Through a = z on the units lent: d z += d (h + a) there.
  const float* lent = ptr(rows(aux_, begin, end));
  const float* d_lent = ptr(rows(d_aux_, begin, end));
  float* d_z = ptr(rows(d_code_, begin, end));
  for (int64_t i = 0; i < n * kCodeSize; ++i) {
    if (lent[i] != 0.0f) d_z[i] += d_lent[i];
  }
  return squared_error;
}

void CpuStep::encoder_backward(int64_t chunk, int64_t begin, int64_t end, BiasSums& sums) {
  // enc3: z3 = h2 . W3^T + b3, over the chunk
  matmul(rows(d_h2_, begin, end), rows(d_code_, begin, end), relaid_[2]);  // (n, 1568)
  each_slice(chunk, begin, end, /*training=*/true,
             [&](int64_t first, int64_t last, const SliceBuffers& at) {
               const int64_t n = last - first;
               const bool start = first == begin;
               const auto d_h2 = rows(d_h2_, first, last).view({-1, 32});  // (n*49, 32)
               relu_backward(ptr(d_h2), ptr(rows(h2_, first, last)), n * kQuarter * kQuarter, 32,
                             sums[1].data());
               // enc2: z2 = cols2 . W2^T + b2, with the forward's patches made again (the scratch
               // moved on)
               im2col(ptr(at.h1), n, kHalf, 16, ptr(at.cols2));            // (n*49, 144)
               matmul(weight_grad(chunk, 1), d_h2.t(), at.cols2, !start);  // (32, 144)
               matmul(at.d_cols2, d_h2, relaid_[1]);                       // (n*49, 144)
               col2im_relu_backward(ptr(at.d_cols2), n, kHalf, 16, ptr(at.h1), ptr(at.d_h1),
                                    sums[0].data());  // (n*196, 16)
               // enc1: z1 = cols1 . W1^T + b1 (the input needs no gradient)
               im2col(input_ + first * kPixels, n, kSide, 1, ptr(at.cols1));  // (n*196, 9)
               matmul(weight_grad(chunk, 0), at.d_h1.t(), at.cols1, !start);  // (16, 9)
             });
}

void CpuStep::backward_chunk(int64_t chunk, int64_t begin, int64_t end, const SparseLoss& loss_fn) {
  const int64_t n = end - begin;
  const auto b = biases();
  BiasSums sums;  // in double over the slices
  for (int64_t i = 0; i < kLayers; ++i) sums[i].assign(static_cast<size_t>(b[i].numel()), 0.0);
  squared_error_[chunk] =
      decoder_pass(chunk, begin, end, code_, d_h4_, d_code_, grad_scale_, &sums);  // d loss / d h
  // The code: the penalty's gradient joins the decoder's, then the activation's backward.
  float* dh = ptr(rows(d_code_, begin, end));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < kCodeSize; ++j) dh[i * kCodeSize + j] += code_grad_[j];
  }
  float* d_theta = theta_grad(chunk);
  if (d_theta != nullptr) std::fill_n(d_theta, kCodeSize, 0.0f);
  const Code& code = model_->code_kind();
  const float* z = ptr(rows(pre_, begin, end));
  code.activation_backward_cpu(z, ptr(rows(code_, begin, end)), dh, n, model_->code_spec(),
                               code_tensors(), d_theta);  // d_code = d loss / d z
  own_sum_[chunk] =
      code.own_penalty_cpu(z, n, model_->code_spec(), code_tensors(), own_scale_, d_theta);
  if (aux_scale_ > 0.0f) aux_squared_error_[chunk] = aux_backward(chunk, begin, end, loss_fn);
  encoder_backward(chunk, begin, end, sums);
  // The dense layers' weight gradients, (64, 1568) each, from the chunk's rows.
  matmul(weight_grad(chunk, 3), rows(code_, begin, end).t(), rows(d_h4_, begin, end));  // dec1
  if (aux_scale_ > 0.0f) {  // AuxK: only its a's part of the product learns
    matmul(weight_grad(chunk, 3), rows(aux_, begin, end).t(), rows(d_h4_aux_, begin, end),
           /*accumulate=*/true);
  }
  matmul(weight_grad(chunk, 2), rows(d_code_, begin, end).t(), rows(h2_, begin, end));  // enc3
  sum_rows(ptr(rows(d_code_, begin, end)), n, kCodeSize, sums[2].data());
  for (int64_t i = 0; i < kLayers; ++i) {
    for (size_t c = 0; c < sums[i].size(); ++c) {
      bias_grad(chunk, i)[c] = static_cast<float>(sums[i][c]);
    }
  }
}

StepLoss CpuStep::forward_backward(const torch::Tensor& images, const SparseLoss& loss_fn,
                                   const SumAcrossRanks& sum_across_ranks) {
  torch::NoGradGuard no_grad;  // every product writes into our own buffers
  // Each stage's end adds its time to the profile.
  auto stage_start = std::chrono::steady_clock::now();
  const auto end_stage = [&](size_t stage) {
    const auto now = std::chrono::steady_clock::now();
    profile_.seconds[stage] += std::chrono::duration<double>(now - stage_start).count();
    stage_start = now;
  };
  ++profile_.steps;
  const double matmul_before = matmul_seconds();
  const auto x = images.contiguous();
  const int64_t local_batch = x.size(0);
  const auto parts = chunks(local_batch);
  const auto chunk_count = static_cast<int64_t>(parts.size());
  prepare(x, chunk_count);
  end_stage(0);
  const auto sum_over_ranks = [&](torch::Tensor& t) {
    if (sum_across_ranks) sum_across_ranks(t);
  };

  each_chunk(parts, [&](int64_t chunk, int64_t begin, int64_t end) {
    encode_chunk(chunk, begin, end, /*training=*/true);
  });
  const Code& code = model_->code_kind();
  if (local_batch > 0) activate(local_batch, /*training=*/true);  // (B, 64): the code h
  end_stage(1);

  // rho_hat over the whole batch, the penalty and its gradient per unit. In a data-parallel run
  // the batch is spread over the ranks: the code's sums, the units' firing counts and the image
  // count are summed over them first, as SyncBatchNorm does with its statistics, because the KL is
  // not linear in rho_hat.
  auto code_sums = torch::zeros({2 * kCodeSize + 1}, torch::kFloat64);  // sums, firings, count
  double* code_sum = code_sums.data_ptr<double>();
  double* firings = code_sum + kCodeSize;
  const float* h = local_batch > 0 ? ptr(code_) : nullptr;
  const auto active = static_cast<float>(code.active_threshold());
  for (int64_t i = 0; i < local_batch; ++i) {
    for (int64_t j = 0; j < kCodeSize; ++j, ++h) {
      code_sum[j] += *h;
      if (*h > active) firings[j] += 1.0;
    }
  }
  code_sum[2 * kCodeSize] = static_cast<double>(local_batch);
  sum_over_ranks(code_sums);
  const auto batch = static_cast<int64_t>(code_sum[2 * kCodeSize]);
  std::vector<float> rho_hat(kCodeSize);  // (64), in float as the float32 network holds it
  for (int64_t j = 0; j < kCodeSize; ++j) {
    rho_hat[j] = static_cast<float>(code_sum[j] / static_cast<double>(batch));
  }
  const Sparsity& sparsity = loss_fn.sparsity();
  const double beta = loss_fn.beta(), rho = loss_fn.rho();
  const std::vector<double> slope = sparsity.penalty_grad_cpu(rho_hat, rho);  // (64)
  code_grad_.resize(kCodeSize);
  for (int64_t j = 0; j < kCodeSize; ++j) {
    code_grad_[j] = static_cast<float>(beta * slope[j] / static_cast<double>(batch));
  }
  const double pixels = static_cast<double>(batch * kPixels);
  const double l0_coef = loss_fn.code_terms().l0_coef;
  const double aux_weight = code.relu_family() ? loss_fn.aux_weight() : 0.0;
  grad_scale_ = static_cast<float>(2.0 / pixels);
  own_scale_ = static_cast<float>(l0_coef / static_cast<double>(batch));
  aux_scale_ = static_cast<float>(aux_weight * 2.0 / pixels);
  end_stage(2);

  each_chunk(parts, [&](int64_t chunk, int64_t begin, int64_t end) {
    backward_chunk(chunk, begin, end, loss_fn);
  });
  end_stage(3);

  // Sum the chunks' gradients (in chunk order: the same threads give the same sums), then the
  // ranks', and put them into each parameter's .grad(), back in its own layout.
  auto total = grads_[0];
  if (chunk_count == 0) total.zero_();  // a rank whose slice of the batch is empty
  float* sum = ptr(total);
  at::parallel_for(0, parameter_count_, kRelayGrain, [&](int64_t first, int64_t last) {
    for (int64_t c = 1; c < chunk_count; ++c) {
      const float* part = ptr(grads_[c]);
      for (int64_t i = first; i < last; ++i) sum[i] += part[i];
    }
  });
  sum_over_ranks(total);
  const auto w = weights();
  const auto b = biases();
  for (int64_t i = 0; i < kLayers; ++i) {
    relay(sum + weight_offset_[i], w[i].size(0), w[i].size(1), w[i].size(2) * w[i].size(3),
          grad_of(w[i]), /*back=*/true);
    std::copy_n(sum + bias_offset_[i], b[i].numel(), grad_of(b[i]));
  }
  if (theta_offset_ >= 0)
    std::copy_n(sum + theta_offset_, kCodeSize, grad_of(code_tensors().theta));
  end_stage(4);

  // The losses' sums over the chunks, then over the ranks: squared error, own penalty, AuxK's.
  auto sums = torch::zeros({3}, torch::kFloat64);
  for (int64_t c = 0; c < chunk_count; ++c) {
    sums[0] += squared_error_[c];
    sums[1] += own_sum_[c];
    sums[2] += aux_squared_error_[c];
  }
  sum_over_ranks(sums);
  const double mse = sums[0].item<double>() / pixels;
  const double own = sums[1].item<double>() / static_cast<double>(batch);
  const double aux = sums[2].item<double>() / pixels;
  end_stage(5);
  profile_.matmul_seconds += matmul_seconds() - matmul_before;
  // The KL is reported whatever the penalty (a diagnostic).
  const double kl = sparsity_of(Penalty::kKl).penalty_cpu(rho_hat, rho);
  std::vector<uint8_t> fired(kCodeSize);
  double active_pairs = 0.0;  // (image, unit) pairs above the threshold
  for (int64_t j = 0; j < kCodeSize; ++j) {
    fired[j] = firings[j] > 0 ? 1 : 0;
    active_pairs += firings[j];
  }
  return {mse + beta * sparsity.penalty_cpu(rho_hat, rho) + l0_coef * own + aux_weight * aux, mse,
          kl, std::move(fired), active_pairs / static_cast<double>(batch)};
}

AutoencoderOutput CpuStep::forward(const torch::Tensor& images) {
  const int64_t batch = images.size(0);
  if (batch == 0) {
    return {torch::empty({0, 1, kSide, kSide}), torch::empty({0, kCodeSize}),
            torch::empty({0, kCodeSize})};
  }
  run_forward(images, /*with_decoder=*/true);
  return {recon_.narrow(0, 0, batch).view({batch, 1, kSide, kSide}).clone(),
          code_.narrow(0, 0, batch).clone(), pre_.narrow(0, 0, batch).clone()};
}

torch::Tensor CpuStep::encode(const torch::Tensor& images) {
  if (images.size(0) == 0) return torch::empty({0, kCodeSize});
  run_forward(images, /*with_decoder=*/false);
  return code_.narrow(0, 0, images.size(0)).clone();
}

torch::Tensor CpuStep::decode(const torch::Tensor& codes) {
  TORCH_CHECK(codes.is_cpu() && codes.scalar_type() == torch::kFloat32 && codes.dim() == 2 &&
                  codes.size(1) == kCodeSize,
              "CpuStep::decode expects float CPU codes of shape (B, 64), got ", codes.sizes());
  const int64_t batch = codes.size(0);
  if (batch == 0) return torch::empty({0, 1, kSide, kSide});
  torch::NoGradGuard no_grad;
  const auto parts = chunks(batch);
  reserve(batch, static_cast<int64_t>(parts.size()));
  code_.narrow(0, 0, batch).copy_(codes);
  each_chunk(parts, [&](int64_t chunk, int64_t begin, int64_t end) {
    decode_chunk(chunk, code_, begin, end);
  });
  return recon_.narrow(0, 0, batch).view({batch, 1, kSide, kSide}).clone();
}

void CpuStep::run_forward(const torch::Tensor& images, bool with_decoder) {
  torch::NoGradGuard no_grad;
  const auto x = images.contiguous();
  const auto parts = chunks(x.size(0));
  const auto chunk_count = static_cast<int64_t>(parts.size());
  prepare(x, chunk_count);
  each_chunk(parts, [&](int64_t chunk, int64_t begin, int64_t end) {
    encode_chunk(chunk, begin, end, /*training=*/false);
  });
  // Over the whole batch, between the passes: in training, BatchTopK selects across images.
  activate(x.size(0), model_->is_training());
  if (with_decoder) {
    each_chunk(parts, [&](int64_t chunk, int64_t begin, int64_t end) {
      decode_chunk(chunk, code_, begin, end);
    });
  }
}

}  // namespace sae
