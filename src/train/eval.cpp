#include "sae/train/eval.hpp"

#include "sae/model/cpu_step.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <optional>

namespace sae {
namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  const auto cpu = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel()};
}

}  // namespace

Evaluation evaluate(SparseAutoencoder& model, const Dataset& data, const SparseLoss& loss_fn,
                    int64_t batch_size, const torch::Device& device) {
  TORCH_CHECK(batch_size >= 1, "evaluate: batch_size must be at least 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = data.size();
  // Sums in double so that 60,000 images * 784 pixels lose nothing to float rounding.
  const auto f64 = torch::TensorOptions(torch::kFloat64).device(device);
  auto squared_error = torch::zeros({}, f64);
  auto code_sum = torch::zeros({kCodeSize}, f64);
  auto code_max = torch::zeros({kCodeSize}, f64);
  auto active = torch::zeros({}, f64);
  auto pixel_sum = torch::zeros({kImageSide * kImageSide}, f64);  // for the mean image
  auto pixel_square_sum = torch::zeros({}, f64);
  std::vector<torch::Tensor> codes;
  std::optional<CpuStep> cpu_step;  // the hand-written forward on the CPU
  if (device.is_cpu()) cpu_step.emplace(model);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, n);
    const auto images = to_float_batch(data.images.slice(0, begin, end)).to(device);  // (B,1,28,28)
    const auto out = cpu_step ? cpu_step->forward(images) : model->forward(images);
    codes.push_back(out.code.to(torch::kCPU));       // (B, 64)
    const auto code = out.code.to(torch::kFloat64);  // (B, 64)
    squared_error += (out.reconstruction - images).to(torch::kFloat64).pow(2).sum();
    code_sum += code.sum(/*dim=*/0);
    code_max = torch::maximum(code_max, std::get<0>(code.max(/*dim=*/0)));
    active += code.gt(kActiveThreshold).sum().to(torch::kFloat64);
    const auto pixels = images.flatten(1).to(torch::kFloat64);  // (B, 784)
    pixel_sum += pixels.sum(/*dim=*/0);
    pixel_square_sum += pixels.pow(2).sum();
  }
  const double count = static_cast<double>(n);
  const auto rho_hat = code_sum / count;  // (64)
  const double rho = loss_fn.rho();
  const double sse = squared_error.item<double>();
  // Sum of squared deviations from the mean image: sum x^2 - (sum x)^2 / N, pixel by pixel.
  const double sst = (pixel_square_sum - pixel_sum.pow(2).sum() / count).item<double>();

  EvalMetrics m;
  m.images = n;
  m.mse = sse / (count * kImageSide * kImageSide);
  m.kl = kl_sparsity(rho_hat, rho).item<double>();
  m.l1 = rho_hat.sum().item<double>();
  m.loss = m.mse + loss_fn.beta() * loss_fn.penalty(rho_hat).item<double>();
  m.psnr = 10.0 * std::log10(1.0 / m.mse);
  m.explained_variance = sst > 0 ? 1.0 - sse / sst : std::nan("");
  m.mean_rho_hat = rho_hat.mean().item<double>();
  m.dead_units = code_max.le(kActiveThreshold).sum().item<int64_t>();
  m.far_units = rho_hat.gt(kFarFactor * rho).sum().item<int64_t>();
  m.mean_l0 = active.item<double>() / count;
  m.rho_hat = to_vector(rho_hat);
  m.unit_kl = to_vector(kl_per_unit(rho_hat, rho));
  m.max_activation = to_vector(code_max);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.images_per_s = count / std::max(m.seconds, 1e-9);
  return {m, codes.empty() ? torch::zeros({0, kCodeSize}) : torch::cat(codes)};
}

nlohmann::json to_json(const EvalMetrics& m) {
  return {
      {"images", m.images},
      {"mse", m.mse},
      {"kl", m.kl},
      {"l1", m.l1},
      {"loss", m.loss},
      {"psnr", m.psnr},
      {"explained_variance", m.explained_variance},
      {"mean_rho_hat", m.mean_rho_hat},
      {"dead_units", m.dead_units},
      {"far_units", m.far_units},
      {"mean_l0", m.mean_l0},
      {"rho_hat", m.rho_hat},
      {"unit_kl", m.unit_kl},
      {"max_activation", m.max_activation},
      {"seconds", m.seconds},
      {"images_per_s", m.images_per_s},
  };
}

torch::Tensor encode_all(SparseAutoencoder& model, const Dataset& data, int64_t batch_size,
                         const torch::Device& device) {
  TORCH_CHECK(batch_size >= 1, "encode_all: batch_size must be at least 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  model->eval();
  std::optional<CpuStep> cpu_step;  // the hand-written encoder on the CPU
  if (device.is_cpu()) cpu_step.emplace(model);
  std::vector<torch::Tensor> codes;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const auto end = std::min(begin + batch_size, data.size());
    const auto images = to_float_batch(data.images.slice(0, begin, end)).to(device);
    codes.push_back(
        (cpu_step ? cpu_step->encode(images) : model->encode(images)).to(torch::kCPU));  // (B, 64)
  }
  return torch::cat(codes);  // (N, 64)
}

}  // namespace sae
