#include "sae/train/train.hpp"

#include "sae/base/stopwatch.hpp"
#include "sae/data/image_size.hpp"

#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <tuple>

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

namespace {

/// The global batch's loss from this rank's slice, for autograd: the code's sums and the squared
/// error of the other ranks enter as constants, so that the gradients of `total`, summed over the
/// ranks, are those of the global loss. The reported loss is the global one.
std::pair<torch::Tensor, StepLoss> global_loss(const AutoencoderOutput& out,
                                               const torch::Tensor& images,
                                               const SparseLoss& loss_fn,
                                               const ProcessGroup& group) {
  const auto code_sum = out.code.sum(/*dim=*/0);                          // (64)
  const auto squared_error = (out.reconstruction - images).pow(2).sum();  // ()
  const auto f64 = torch::TensorOptions(torch::kFloat64).device(out.code.device());
  auto totals = torch::cat({code_sum.detach().to(torch::kFloat64),
                            torch::stack({torch::full({}, static_cast<double>(images.size(0)), f64),
                                          squared_error.detach().to(torch::kFloat64)})});
  group.all_reduce_sum(totals);  // (66): code sums, image count, squared error
  const double count = totals[kCodeSize].item<double>();
  const double pixels = count * kImageSide * kImageSide;
  const auto others = totals.slice(0, 0, kCodeSize).to(code_sum.scalar_type()) - code_sum.detach();
  const auto rho_hat = (code_sum + others) / count;  // (64), differentiable in this rank's codes
  const auto penalty = loss_fn.penalty(rho_hat);
  const auto total = squared_error / pixels + loss_fn.beta() * penalty;
  const double mse = totals[kCodeSize + 1].item<double>() / pixels;
  return {total,
          {mse + loss_fn.beta() * penalty.item<double>(), mse,
           kl_sparsity(rho_hat.detach(), loss_fn.rho()).item<double>()}};
}

/// Sums every parameter's gradient over the ranks, in one collective.
void all_reduce_gradients(SparseAutoencoder& model, const ProcessGroup& group) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) grads.push_back(p.grad().flatten());
  auto flat = torch::cat(grads);
  group.all_reduce_sum(flat);
  int64_t at = 0;
  for (const auto& p : model->parameters()) {
    auto grad = p.grad();
    grad.copy_(flat.slice(0, at, at + grad.numel()).view_as(grad));
    at += grad.numel();
  }
}

}  // namespace

StepLoss train_step(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                    const torch::Tensor& images, const SparseLoss& loss_fn, CpuStep* cpu_step,
                    const ProcessGroup& group) {
  StepLoss loss;
  torch::Tensor total;
  if (cpu_step != nullptr) {
    loss = cpu_step->forward_backward(
        images, loss_fn, [&](torch::Tensor& t) { group.all_reduce_sum(t); });  // sets every .grad()
  } else {
    const auto out = model->forward(images);  // reconstruction (B, 1, 28, 28), code (B, 64)
    if (group.world_size() == 1) {
      const auto terms = loss_fn(out.reconstruction, images, out.code);
      loss = {terms.total.item<double>(), terms.mse.item<double>(), terms.kl.item<double>()};
      total = terms.total;
    } else {
      std::tie(total, loss) = global_loss(out, images, loss_fn, group);
    }
  }
  if (!std::isfinite(loss.loss)) throw NonFiniteLoss(fmt::format("loss became {}", loss.loss));
  if (total.defined()) {
    optimizer.zero_grad();
    total.backward();
    if (group.world_size() > 1) all_reduce_gradients(model, group);
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
  // The last partial batch is kept. Not (n + batch_size - 1) / batch_size: that overflows.
  const int64_t num_batches = n / batch_size + (n % batch_size != 0 ? 1 : 0);
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
    const Stopwatch stopwatch;
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
    cursor.seconds += stopwatch.seconds();
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
