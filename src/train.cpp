#include "sae/train.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <optional>

namespace sae {

torch::optim::Adam make_optimizer(SparseAutoencoder& model, double lr, double weight_decay) {
  const auto options = torch::optim::AdamOptions(lr).betas(std::make_tuple(0.9, 0.999)).eps(1e-8);
  std::vector<torch::Tensor> weights, biases;
  for (const auto& p : model->named_parameters()) {
    (p.value().dim() > 1 ? weights : biases).push_back(p.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(weights, std::make_unique<torch::optim::AdamOptions>(
                                   torch::optim::AdamOptions(options).weight_decay(weight_decay)));
  groups.emplace_back(biases, std::make_unique<torch::optim::AdamOptions>(options));
  return torch::optim::Adam(std::move(groups), options);
}

StepLoss train_step(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                    const torch::Tensor& images, const SparseLoss& loss_fn, CpuStep* cpu_step,
                    const ProcessGroup& group) {
  StepLoss loss;
  torch::Tensor total;
  if (cpu_step != nullptr) {
    loss = cpu_step->forward_backward(images, loss_fn, group);  // sets every .grad()
  } else {
    TORCH_CHECK(group.world_size() == 1, "data-parallel training runs through the CPU step");
    const auto out = model->forward(images);  // reconstruction (B, 1, 28, 28), code (B, 64)
    const auto terms = loss_fn(out.reconstruction, images, out.code);
    loss = {terms.total.item<double>(), terms.mse.item<double>(), terms.kl.item<double>()};
    total = terms.total;
  }
  if (!std::isfinite(loss.loss)) throw NonFiniteLoss(fmt::format("loss became {}", loss.loss));
  if (total.defined()) {
    optimizer.zero_grad();
    total.backward();
  }
  optimizer.step();
  return loss;
}

SparseLoss run_loss(const RunConfig& config) {
  return SparseLoss(config.beta, config.rho, config.penalty);
}

SparseLoss warmed_up_loss(const RunConfig& config, int64_t step) {
  const double warmup =
      config.beta_warmup > 0
          ? std::min(1.0, static_cast<double>(step) / static_cast<double>(config.beta_warmup))
          : 1.0;
  return run_loss(config).with_beta(config.beta * warmup);
}

bool train_epoch(SparseAutoencoder& model, torch::optim::Adam& optimizer, const Dataset& data,
                 const RunConfig& config, const torch::Device& device, TrainCursor& cursor,
                 ProgressStyle style, const std::function<bool()>& should_stop,
                 const ProcessGroup& group) {
  model->train();
  const int64_t epoch = cursor.epoch + 1;
  const int64_t n = data.size();
  const int64_t batch_size = config.batch_size;
  const int64_t num_batches = (n + batch_size - 1) / batch_size;  // the last partial batch is kept
  if (cursor.batches > num_batches) {
    throw std::runtime_error(fmt::format(
        "epoch {} was interrupted after batch {}, but this data has only {} batches: resume "
        "with the data and --batch-size it was trained with",
        epoch, cursor.batches, num_batches));
  }
  const auto order = torch::tensor(epoch_order(n, config.seed, epoch), torch::kInt64);
  Progress bar(fmt::format("epoch {}", epoch), num_batches, style, cursor.batches);
  std::optional<CpuStep> cpu_step;  // the hand-written step on the CPU; autograd elsewhere
  if (device.is_cpu()) cpu_step.emplace(model);

  while (cursor.batches < num_batches) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t b = cursor.batches;
    const int64_t step = (epoch - 1) * num_batches + b + 1;  // 1-based, across epochs
    const auto indices = order.slice(0, b * batch_size, std::min((b + 1) * batch_size, n));
    const int64_t count = indices.size(0);  // the global batch; this rank trains on its slice
    const auto [first, last] = rank_slice(count, group.rank(), group.world_size());
    const auto images =
        to_float_batch(data.images, indices.slice(0, first, last)).to(device);  // (B, 1, 28, 28)
    StepLoss loss;
    try {
      loss = train_step(model, optimizer, images, warmed_up_loss(config, step),
                        cpu_step ? &*cpu_step : nullptr, group);
    } catch (const NonFiniteLoss& e) {
      throw NonFiniteLoss(
          fmt::format("{} at epoch {}, batch {}/{}", e.what(), epoch, b + 1, num_batches));
    }

    cursor.batches += 1;
    cursor.steps += 1;
    cursor.images += count;
    cursor.loss_sum += loss.loss * static_cast<double>(count);
    cursor.mse_sum += loss.mse * static_cast<double>(count);
    cursor.kl_sum += loss.kl * static_cast<double>(count);
    cursor.seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.step(count, loss.loss);
    if (cursor.batches < num_batches && should_stop()) break;
  }
  bar.finish();
  return cursor.batches == num_batches;
}

bool all_finite(SparseAutoencoder& model) {
  torch::NoGradGuard no_grad;
  for (const auto& p : model->parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) return false;
  }
  return true;
}

}  // namespace sae
