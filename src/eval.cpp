#include "sae/eval.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "sae/checkpoint.hpp"
#include "sae/device.hpp"
#include "sae/loss.hpp"

#include <chrono>
#include <cmath>
#include <iostream>

namespace sae {

EvalMetrics evaluate(SparseAutoencoder& model, const Dataset& data, double beta, double rho,
                     int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = data.size();
  // Sums in double so that 10,000 images * 784 pixels lose nothing to float rounding.
  auto squared_error = torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(device));
  auto code_sum = torch::zeros({kCodeSize}, torch::TensorOptions(torch::kFloat64).device(device));
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, n);
    const auto images = to_float_batch(data.images.slice(0, begin, end)).to(device);  // (B,1,28,28)
    const auto out = model->forward(images);
    squared_error += (out.reconstruction - images).pow(2).sum().to(torch::kFloat64);
    code_sum += out.code.sum(/*dim=*/0).to(torch::kFloat64);  // (64)
  }
  EvalMetrics m;
  m.images = n;
  m.mse = squared_error.item<double>() / (static_cast<double>(n) * 28 * 28);
  m.kl = kl_sparsity(code_sum / static_cast<double>(n), rho).item<double>();
  m.loss = m.mse + beta * m.kl;
  m.psnr = 10.0 * std::log10(1.0 / m.mse);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.images_per_s = n / std::max(m.seconds, 1e-9);
  return m;
}

int run_eval(const EvalOptions& options) {
  const torch::Device device = resolve_device(options.device);
  set_threads(options.threads);
  const CheckpointInfo info = load_checkpoint_info(options.checkpoint);
  const double beta = options.beta.value_or(info.beta);
  const double rho = options.rho.value_or(info.rho);
  check_sparsity_params(beta, rho);
  if (options.batch_size < 1) {
    throw std::invalid_argument(
        fmt::format("--batch-size must be at least 1, got {}", options.batch_size));
  }
  const std::string data_dir = options.data_dir.empty() ? info.data_dir : options.data_dir;

  auto model = load_model(options.checkpoint, device);
  const Dataset test = load_split(data_dir, Split::kTest);
  const EvalMetrics m = evaluate(model, test, beta, rho, options.batch_size, device);

  if (options.json) {
    const nlohmann::json json = {
        {"checkpoint", options.checkpoint},
        {"data_dir", data_dir},
        {"images", m.images},
        {"beta", beta},
        {"rho", rho},
        {"mse", m.mse},
        {"kl", m.kl},
        {"loss", m.loss},
        {"psnr", m.psnr},
        {"seconds", m.seconds},
        {"images_per_s", m.images_per_s},
    };
    std::cout << json.dump() << std::endl;
    return 0;
  }
  fmt::print("checkpoint  {} (epoch {})\n", options.checkpoint, info.epoch);
  fmt::print("data        {}, test split, {} images\n", data_dir, m.images);
  fmt::print("beta, rho   {}, {}\n", beta, rho);
  fmt::print("mse         {:.6f}\n", m.mse);
  fmt::print("kl          {:.6f}\n", m.kl);
  fmt::print("loss        {:.6f}   (mse + beta * kl)\n", m.loss);
  fmt::print("psnr        {:.2f} dB\n", m.psnr);
  fmt::print("speed       {:.0f} images/s ({:.2f} s)\n", m.images_per_s, m.seconds);
  return 0;
}

}  // namespace sae
