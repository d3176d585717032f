#include "sae/train/eval.hpp"

#include "sae/base/stopwatch.hpp"
#include "sae/model/inference.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>

namespace sae {
namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  const auto cpu = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel()};
}

/// sum (a - b)^2 in double over float tensors of one shape, the difference taken in float.
torch::Tensor squared_error_sum(const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(a.sizes() == b.sizes() && a.scalar_type() == torch::kFloat &&
                  b.scalar_type() == torch::kFloat,
              "squared_error_sum: float tensors of one shape, got ", a.sizes(), " and ", b.sizes());
  if (!a.is_cpu()) return (a - b).to(torch::kFloat64).pow(2).sum();
  // On the CPU one pass, without the double copies of the batch that the line above makes.
  const auto x = a.contiguous(), y = b.contiguous();
  const float* p = x.data_ptr<float>();
  const float* q = y.data_ptr<float>();
  double sum = 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float diff = p[i] - q[i];
    sum += static_cast<double>(diff) * diff;
  }
  return torch::tensor(sum, torch::kFloat64);
}

/// The squared error of decoding `code` (B, 64) with every inactive unit (at or below
/// `threshold`) set to 0, against `images` (B, 1, 28, 28); `squared_error` is that of the code as
/// it is. An exactly sparse code (relu's, topk's, ...) has nothing to zero: its squared error is
/// the code's own. Otherwise an image with no active unit decodes to `blank`, the image of the
/// zero code, so only the others go through the decoder: for a code as sparse as the original
/// model's, that is almost none.
torch::Tensor thresholded_squared_error_of(Inference& network, const torch::Tensor& code,
                                           double threshold, const torch::Tensor& images,
                                           const torch::Tensor& blank,
                                           const torch::Tensor& squared_error) {
  const auto inactive = code.le(threshold);  // (B, 64)
  if (!inactive.logical_and(code.ne(0)).any().item<bool>()) return squared_error;
  const auto active_code = code * inactive.logical_not();   // (B, 64)
  const auto lit = active_code.ne(0).any(/*dim=*/1);        // (B)
  const auto dark = lit.logical_not().nonzero().flatten();  // images with no unit on
  const auto bright = lit.nonzero().flatten();              // the others
  const auto dark_images = images.index_select(0, dark);
  auto sum = squared_error_sum(dark_images, blank.expand_as(dark_images)).to(images.device());
  if (bright.numel() > 0) {
    const auto drawn = network.decode(active_code.index_select(0, bright));
    sum += squared_error_sum(drawn, images.index_select(0, bright)).to(images.device());
  }
  return sum;
}

/// Over every image of `data`, each pixel's sum of x and the sum of x^2 over all pixels, x as
/// to_float_batch makes it: the mean image's statistics, which need nothing of the model. Read
/// from the bytes through a table of their 256 values, in double.
std::pair<torch::Tensor, double> pixel_sums(const Dataset& data) {
  const auto value = to_float_batch(torch::arange(256, torch::kUInt8).view({256, 1, 1}))
                         .to(torch::kFloat64)
                         .flatten()
                         .contiguous();  // (256): byte -> x, in float as batches hold it
  const double* x = value.data_ptr<double>();
  constexpr int64_t kPixels = kImageSide * kImageSide;
  const auto bytes = data.images.contiguous();
  const uint8_t* image = bytes.data_ptr<uint8_t>();
  auto sum = torch::zeros({kPixels}, torch::kFloat64);
  double* pixel = sum.data_ptr<double>();
  double square_sum = 0.0;
  for (int64_t i = 0; i < data.size(); ++i, image += kPixels) {
    for (int64_t p = 0; p < kPixels; ++p) {
      const double v = x[image[p]];
      pixel[p] += v;
      square_sum += v * v;
    }
  }
  return {sum, square_sum};
}

}  // namespace

Evaluation evaluate(SparseAutoencoder& model, const Dataset& data, const SparseLoss& loss_fn,
                    int64_t batch_size, const torch::Device& device) {
  TORCH_CHECK(batch_size >= 1, "evaluate: batch_size must be at least 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  Inference network(model, device);  // eval mode
  const Stopwatch stopwatch;
  const double threshold = model->code_kind().active_threshold();  // 0.5 sigmoid, 0 the others
  const int64_t n = data.size();
  // Sums in double so that 60,000 images * 784 pixels lose nothing to float rounding.
  const auto f64 = torch::TensorOptions(torch::kFloat64).device(device);
  auto squared_error = torch::zeros({}, f64);
  auto thresholded_squared_error = torch::zeros({}, f64);
  auto code_sum = torch::zeros({kCodeSize}, f64);
  auto own_sum = torch::zeros({}, f64);  // the code's own penalty (jumprelu's L0), summed
  auto code_max = torch::zeros({kCodeSize}, f64);
  auto active = torch::zeros({}, f64);
  std::vector<torch::Tensor> codes;
  const auto blank = network.decode(torch::zeros({1, kCodeSize}, f64.dtype(torch::kFloat32)));
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, n);
    const auto images = to_float_batch(data.images.slice(0, begin, end)).to(device);  // (B,1,28,28)
    const auto out = network.forward(images);
    codes.push_back(out.code.to(torch::kCPU));       // (B, 64)
    const auto code = out.code.to(torch::kFloat64);  // (B, 64)
    const auto batch_error = squared_error_sum(out.reconstruction, images).to(device);
    squared_error += batch_error;
    thresholded_squared_error +=
        thresholded_squared_error_of(network, out.code, threshold, images, blank, batch_error);
    const auto own = model->code_kind().own_penalty(out.pre, model->code_spec(),
                                                    model->code_tensors());  // a batch mean
    if (own.defined()) own_sum += own.to(torch::kFloat64) * static_cast<double>(end - begin);
    code_sum += code.sum(/*dim=*/0);
    code_max = torch::maximum(code_max, std::get<0>(code.max(/*dim=*/0)));
    active += code.gt(threshold).sum().to(torch::kFloat64);
  }
  const double count = static_cast<double>(n);
  const auto rho_hat = code_sum / count;  // (64)
  const double rho = loss_fn.rho();
  const double sse = squared_error.item<double>();
  const double thresholded_sse = thresholded_squared_error.item<double>();
  // Sum of squared deviations from the mean image: sum x^2 - (sum x)^2 / N, pixel by pixel. Over
  // N * 784 it is the MSE of predicting the mean image, the baseline FVU divides by.
  const auto [pixel_sum, pixel_square_sum] = pixel_sums(data);
  const double sst = pixel_square_sum - pixel_sum.pow(2).sum().item<double>() / count;

  EvalMetrics m;
  m.images = n;
  m.mse = sse / (count * kImageSide * kImageSide);
  m.thresholded_mse = thresholded_sse / (count * kImageSide * kImageSide);
  m.fvu = sst > 0 ? sse / sst : std::nan("");
  m.thresholded_fvu = sst > 0 ? thresholded_sse / sst : std::nan("");
  m.kl = kl_sparsity(rho_hat, rho).item<double>();
  m.l1 = sparsity_of(Penalty::kL1).penalty(rho_hat, rho).item<double>();
  m.loss = m.mse + loss_fn.beta() * loss_fn.penalty(rho_hat).item<double>() +
           loss_fn.code_terms().l0_coef * own_sum.item<double>() / count;
  m.psnr = 10.0 * std::log10(1.0 / m.mse);
  m.explained_variance = sst > 0 ? 1.0 - sse / sst : std::nan("");
  m.mean_rho_hat = rho_hat.mean().item<double>();
  m.dead_units = code_max.le(threshold).sum().item<int64_t>();
  m.far_units = rho_hat.gt(kFarFactor * rho).sum().item<int64_t>();
  m.mean_l0 = active.item<double>() / count;
  m.rho_hat = to_vector(rho_hat);
  m.unit_kl = to_vector(kl_per_unit(rho_hat, rho));
  m.max_activation = to_vector(code_max);
  m.seconds = stopwatch.seconds();
  m.images_per_s = count / std::max(m.seconds, 1e-9);
  return {m, codes.empty() ? torch::zeros({0, kCodeSize}) : torch::cat(codes)};
}

torch::Tensor encode_all(SparseAutoencoder& model, const Dataset& data, int64_t batch_size,
                         const torch::Device& device) {
  TORCH_CHECK(batch_size >= 1, "encode_all: batch_size must be at least 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  Inference network(model, device);  // eval mode
  std::vector<torch::Tensor> codes;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const auto end = std::min(begin + batch_size, data.size());
    const auto images = to_float_batch(data.images.slice(0, begin, end)).to(device);
    codes.push_back(network.encode(images).to(torch::kCPU));  // (B, 64)
  }
  return torch::cat(codes);  // (N, 64)
}

}  // namespace sae
