#pragma once
// The network on the CPU, written out by hand in the spirit of llm.c: forward, loss and backward
// as matrix products (oneDNN's sgemm) and plain loops over buffers allocated once, with no
// autograd graph. It trains, evaluates and draws on the CPU (inference.hpp). The batch is split
// across the threads, each computing its own gradients, which are then summed. The torch::nn
// layers of model.cpp remain the reference; tests/test_cpu_step.cpp holds the two together.

#include <torch/torch.h>

#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"

#include <array>
#include <functional>
#include <utility>
#include <vector>

namespace sae {

/// t <- the sum of t over the ranks of a data-parallel run, in place; empty for a lone process.
/// The train layer passes its process group's all-reduce, so that the model layer needs no c10d.
using SumAcrossRanks = std::function<void(torch::Tensor&)>;

/// Where forward_backward's time went, summed over its calls: one entry per stage, in order.
struct StepProfile {
  static constexpr std::array<const char*, 6> kStages = {
      "weights re-laid", "encoder",  "code statistics and penalty", "decoder, loss and backward",
      "gradient sum",    "loss sums"};
  int64_t steps = 0;
  std::array<double, kStages.size()> seconds{};
  double matmul_seconds = 0.0;  // of which in matmul, summed over the threads (time_matmuls)
};

/// Forward and backward passes of a SparseAutoencoder on the CPU, reusing its buffers from one
/// call to the next. It reads the model's parameters at every call, so it stays valid while an
/// optimizer updates them; it is not thread-safe.
class CpuStep {
 public:
  /// A step over `model`'s parameters, whose code is the model's kind's (code.hpp).
  explicit CpuStep(SparseAutoencoder model);

  /// Forward, loss and backward on `images` (B, 1, 28, 28), float, CPU: sets every parameter's
  /// .grad() to the gradient of loss_fn's total and returns the loss terms of the batch. In a
  /// data-parallel run each rank passes its slice of the global batch, and the loss and the
  /// gradients are those of the whole batch, on every rank.
  StepLoss forward_backward(const torch::Tensor& images, const SparseLoss& loss_fn,
                            const SumAcrossRanks& sum_across_ranks = {});

  /// Where the calls of forward_backward spent their time so far.
  const StepProfile& profile() const { return profile_; }

  /// The forward pass alone, as model->forward gives it: reconstruction (B, 1, 28, 28) and code
  /// (B, 64), new tensors.
  AutoencoderOutput forward(const torch::Tensor& images);
  /// The code alone, as model->encode gives it: (B, 64), a new tensor.
  torch::Tensor encode(const torch::Tensor& images);
  /// The decoder alone, as model->decode gives it: codes (B, 64), float, CPU -> images
  /// (B, 1, 28, 28), a new tensor.
  torch::Tensor decode(const torch::Tensor& codes);

 private:
  std::array<torch::Tensor, 6> weights() const;  // enc1..dec3, the model's own
  std::array<torch::Tensor, 6> biases() const;
  const CodeTensors& code_tensors() const { return model_->code_tensors(); }
  /// Applies the code's activation to images [0, rows) of pre_ into code_.
  void activate(int64_t rows, bool training);
  /// Image ranges [begin, end) that the threads share, in order.
  std::vector<std::pair<int64_t, int64_t>> chunks(int64_t batch) const;
  /// Checks `images`, then reserve(its batch, chunk_count).
  void prepare(const torch::Tensor& images, int64_t chunk_count);
  /// Grows the buffers to `batch` images and `chunk_count` chunks and re-lays the weights.
  void reserve(int64_t batch, int64_t chunk_count);
  /// The rows of a per-image buffer that belong to images [begin, end).
  torch::Tensor rows(const torch::Tensor& buffer, int64_t begin, int64_t end) const;
  torch::Tensor weight_grad(int64_t chunk, int64_t layer) const;  // re-laid, like relaid_
  float* bias_grad(int64_t chunk, int64_t layer) const;
  float* theta_grad(int64_t chunk) const;  // (64), jumprelu only
  /// One slice's per-image buffers (at most kSliceImages images): the convolutions' patches,
  /// outputs and gradients, which live only while the slice is worked on, in scratch small enough
  /// for L2. In training, h1 is rows of h1_ instead: the backward pass reads it later.
  struct SliceBuffers {
    torch::Tensor cols1, h1, cols2, cols5, h5, cols6;              // forward
    torch::Tensor d_recon, d_cols6, d_h5, d_cols5, d_cols2, d_h1;  // backward
  };
  /// Each layer's bias gradient of a chunk, summed in double over its slices.
  using BiasSums = std::array<std::vector<double>, 6>;
  /// Chunk `chunk`'s scratch for the slice of images [begin, end).
  SliceBuffers slice_buffers(int64_t chunk, int64_t begin, int64_t end, bool training) const;
  /// work(first, last, buffers) over images [begin, end) of chunk `chunk`, a slice at a time.
  void each_slice(int64_t chunk, int64_t begin, int64_t end, bool training,
                  const std::function<void(int64_t, int64_t, const SliceBuffers&)>& work);
  void run_forward(const torch::Tensor& images, bool with_decoder);
  /// The encoder on images [begin, end) of chunk `chunk`, into pre_: its convolutions slice by
  /// slice, then enc3 over the chunk, so that sgemm packs its (64, 1568) weight once.
  void encode_chunk(int64_t chunk, int64_t begin, int64_t end, bool training);
  /// dec1 on rows [begin, end) of `code` (the code, or AuxK's input), into h4_, over the chunk.
  void decode_dense(const torch::Tensor& code, int64_t begin, int64_t end);
  /// dec2 and dec3 on a slice's rows of h4_, into recon_.
  void decode_slice(int64_t begin, int64_t end, const SliceBuffers& at);
  /// The decoder on rows [begin, end) of `code`, into recon_.
  void decode_chunk(int64_t chunk, const torch::Tensor& code, int64_t begin, int64_t end);
  /// at.d_recon <- scale * (r - x) * r (1 - r) for images [begin, end) (d total / d z6 at
  /// scale = 2 / (B * 784)), and its sum added to *bias_sum
  /// (dec3's bias gradient) unless null; returns their squared error.
  double reconstruction_backward(int64_t begin, int64_t end, float scale, const SliceBuffers& at,
                                 double* bias_sum);
  /// The decoder on rows [begin, end) of `code`, its loss (weighed by `scale`) and its backward
  /// pass into rows of `d_input`, through rows of `d_h4`; returns the squared error. The main
  /// pass adds dec2's and dec3's weight and bias gradients and dec1's bias gradient; AuxK's
  /// (`sums` null) adds none. dec1's weight gradient is backward_chunk's, from d_h4.
  double decoder_pass(int64_t chunk, int64_t begin, int64_t end, const torch::Tensor& code,
                      const torch::Tensor& d_h4, const torch::Tensor& d_input, float scale,
                      BiasSums* sums);
  /// AuxK for images [begin, end): decodes h + a, and adds its gradient into d_code_ (as d z).
  double aux_backward(int64_t chunk, int64_t begin, int64_t end, const SparseLoss& loss_fn);
  /// From d_code_ through d_h2 (enc3's input gradient) to enc2's and enc1's weight and bias
  /// gradients.
  void encoder_backward(int64_t chunk, int64_t begin, int64_t end, BiasSums& sums);
  /// The decoder, loss and backward on a chunk's images.
  void backward_chunk(int64_t chunk, int64_t begin, int64_t end, const SparseLoss& loss_fn);

  SparseAutoencoder model_;
  int64_t parameter_count_ = 0;
  std::array<int64_t, 6> weight_offset_{}, bias_offset_{};  // into a row of grads_
  StepProfile profile_;
  int64_t theta_offset_ = -1;     // jumprelu's theta, or -1
  int64_t capacity_ = 0;          // images the activation buffers hold
  const float* input_ = nullptr;  // (B, 28, 28): this call's images
  float grad_scale_ = 0.0f;       // d mse / d recon = grad_scale * (r - x): 2 / (B * 784)
  std::vector<float> code_grad_;  // (64) beta * d penalty / d h_bj, the same for every image b
  float own_scale_ = 0.0f;        // lambda / B: the weight of the code's own penalty per image
  float aux_scale_ = 0.0f;        // AuxK's weight * grad_scale_

  // Weights re-laid once per call so that every product reads them contiguously (cpu_step.cpp).
  std::array<torch::Tensor, 6> relaid_;
  // What outlives a slice, one block of rows per image (shapes in cpu_step.cpp): the maps that
  // the backward pass reads, the code, the reconstruction, and the dense layers' inputs and
  // output gradients, which their products take over the whole chunk.
  torch::Tensor h1_, h2_, pre_, code_, h4_, recon_, d_h4_, d_code_, d_h2_;
  torch::Tensor aux_, aux_input_, d_aux_, d_h4_aux_;  // AuxK's a, h + a, their gradients
  std::vector<SliceBuffers> scratch_;                 // per chunk: one slice's
  torch::Tensor grads_;                    // (chunks, parameters): each chunk's gradients
  std::vector<double> squared_error_;      // per chunk
  std::vector<double> own_sum_;            // per chunk: the code's own penalty, summed
  std::vector<double> aux_squared_error_;  // per chunk
};

}  // namespace sae
