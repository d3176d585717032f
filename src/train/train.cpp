#include "sae/train/train.hpp"

#include "sae/base/env.hpp"
#include "sae/base/stopwatch.hpp"
#include "sae/data/image_size.hpp"
#include "sae/model/gemm.hpp"
#include "sae/train/adam.hpp"
#include "sae/train/resample.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

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

/// Which units fired on an image of `code` (B, 64): per unit, how many images, (64) float64.
torch::Tensor firings(const SparseAutoencoderImpl& model, const torch::Tensor& code) {
  return code.detach().gt(model.code_kind().active_threshold()).sum(/*dim=*/0).to(torch::kFloat64);
}

/// Sets `loss`'s fired units and mean L0 from the units' firing counts (64) over `images` images.
void set_firings(StepLoss& loss, const torch::Tensor& firing_counts, double images) {
  const auto counts = firing_counts.to(torch::kCPU, torch::kFloat64).contiguous();  // one copy
  const double* count = counts.data_ptr<double>();
  loss.fired.assign(kCodeSize, 0);
  double active_pairs = 0.0;
  for (int64_t j = 0; j < kCodeSize; ++j) {
    loss.fired[j] = count[j] > 0 ? 1 : 0;
    active_pairs += count[j];
  }
  loss.l0 = active_pairs / std::max(images, 1.0);
}

/// The global batch's loss from this rank's slice, for autograd: the code's sums and the squared
/// error of the other ranks enter as constants, so that the gradients of `total`, summed over the
/// ranks, are those of the global loss. The terms linear in the images (the MSE, the code's own
/// penalty, AuxK's MSE) are this rank's sums over the global count. The reported loss is global.
std::pair<torch::Tensor, StepLoss> global_loss(SparseAutoencoderImpl& model,
                                               const AutoencoderOutput& out,
                                               const torch::Tensor& images,
                                               const SparseLoss& loss_fn,
                                               const ProcessGroup& group) {
  const auto code_sum = out.code.sum(/*dim=*/0);                          // (64)
  const auto squared_error = (out.reconstruction - images).pow(2).sum();  // ()
  const int64_t local = images.size(0);
  auto own_sum = model.code_kind().own_penalty(out.pre, model.code_spec(), model.code_tensors());
  if (own_sum.defined()) own_sum = own_sum * static_cast<double>(local);  // a mean -> a sum
  torch::Tensor aux_squared_error;
  const double aux_weight = model.code_kind().relu_family() ? loss_fn.aux_weight() : 0.0;
  if (aux_weight > 0) {
    const auto a = aux_code(out.pre, out.code, loss_fn.dead_units(), loss_fn.code_terms().aux_k);
    aux_squared_error = (decode_aux(model, out.code, a) - images).pow(2).sum();
  }
  const auto f64 = torch::TensorOptions(torch::kFloat64).device(out.code.device());
  const auto scalar = [&](const torch::Tensor& t) {
    return t.defined() ? t.detach().to(torch::kFloat64) : torch::zeros({}, f64);
  };
  auto totals = torch::cat(
      {code_sum.detach().to(torch::kFloat64), firings(model, out.code).to(f64),
       torch::stack({torch::full({}, static_cast<double>(local), f64), scalar(squared_error),
                     scalar(own_sum), scalar(aux_squared_error)})});
  group.all_reduce_sum(totals);  // (132): code sums, firings, count, the three sums
  const int64_t at = 2 * kCodeSize;
  const double count = totals[at].item<double>();
  const double pixels = count * kImageSide * kImageSide;
  const auto others = totals.slice(0, 0, kCodeSize).to(code_sum.scalar_type()) - code_sum.detach();
  const auto rho_hat = (code_sum + others) / count;  // (64), differentiable in this rank's codes
  const auto penalty = loss_fn.penalty(rho_hat);
  const double l0_coef = loss_fn.code_terms().l0_coef;
  auto total = squared_error / pixels + loss_fn.beta() * penalty;
  if (own_sum.defined()) total = total + l0_coef * own_sum / count;
  if (aux_squared_error.defined()) total = total + aux_weight * aux_squared_error / pixels;
  const double mse = totals[at + 1].item<double>() / pixels;
  const double own = totals[at + 2].item<double>() / count;
  const double aux = totals[at + 3].item<double>() / pixels;
  StepLoss loss;
  loss.loss = mse + loss_fn.beta() * penalty.item<double>() + l0_coef * own + aux_weight * aux;
  loss.mse = mse;
  loss.kl = kl_sparsity(rho_hat.detach(), loss_fn.rho()).item<double>();
  set_firings(loss, totals.slice(0, kCodeSize, 2 * kCodeSize), count);
  return {total, loss};
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

/// SAE_STEP_PROFILE: where the epoch's steps spent their time, per stage, in ms a step; what
/// train_step spent beyond the CPU step's stages is Adam's and the rest (the loss's last checks).
void log_step_profile(const StepProfile& profile, double step_seconds) {
  if (profile.steps == 0) return;
  const double per_step = 1e3 / static_cast<double>(profile.steps);
  std::string stages;
  double staged = 0.0;
  for (size_t i = 0; i < StepProfile::kStages.size(); ++i) {
    stages += fmt::format("{} {:.3f}, ", StepProfile::kStages[i], profile.seconds[i] * per_step);
    staged += profile.seconds[i];
  }
  spdlog::info(
      "step profile over {} steps, ms a step: {}Adam and the rest {:.3f}; the step {:.3f}, in "
      "which the matrix products took {:.3f} thread-ms (summed over the threads)",
      profile.steps, stages, (step_seconds - staged) * per_step, step_seconds * per_step,
      profile.matmul_seconds * per_step);
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
      const auto terms = loss_fn(*model, out, images);
      loss.loss = terms.total.item<double>();
      loss.mse = terms.mse.item<double>();
      loss.kl = terms.kl.item<double>();
      set_firings(loss, firings(*model, out.code), static_cast<double>(images.size(0)));
      total = terms.total;
    } else {
      std::tie(total, loss) = global_loss(*model, out, images, loss_fn, group);
    }
  }
  if (!std::isfinite(loss.loss)) throw NonFiniteLoss(fmt::format("loss became {}", loss.loss));
  if (total.defined()) {
    optimizer.zero_grad();
    total.backward();
    if (group.world_size() > 1) all_reduce_gradients(model, group);
  }
  if (cpu_step != nullptr) {
    fused_adam_step(optimizer);  // the same step, in one pass per parameter
  } else {
    optimizer.step();
  }
  return loss;
}

SparseLoss run_loss(const RunConfig& config) {
  return SparseLoss(config.beta, config.rho, effective_penalty(config),
                    {config.l0_coef, config.aux_k, config.aux_coef});
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
                 const ProcessGroup& group,
                 const std::function<void(const StepRecord&)>& log_step) {
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
  Progress bar(fmt::format("epoch {}/{}", epoch, config.epochs), num_batches, style,
               cursor.batches);
  Stopwatch since_log;  // img/s of steps.csv: over the images since its last row
  int64_t images_since_log = 0;
  std::optional<CpuStep> cpu_step;  // the hand-written step on the CPU; autograd elsewhere
  if (device.is_cpu()) cpu_step.emplace(model);
  if (config.code == CodeKind::kBatchTopK && group.world_size() > 1) {
    throw std::runtime_error(
        "--code batchtopk selects over the whole batch, which data-parallel training does not "
        "gather yet: train it in one process (or use --code topk)");
  }
  if (cursor.silent_steps.empty()) cursor.silent_steps.assign(kCodeSize, 0);
  const bool profiled = cpu_step && env_text("SAE_STEP_PROFILE").value_or("0") != "0";
  time_matmuls(profiled);
  double step_seconds = 0.0;  // in train_step: the CPU step's stages, and Adam

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
      const auto loss_fn =
          warmed_up_loss(config, step).with_dead_units(dead_units(cursor, config.dead_steps));
      const Stopwatch in_step;
      loss = train_step(model, optimizer, images, loss_fn, cpu_step ? &*cpu_step : nullptr, group);
      step_seconds += in_step.seconds();
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
    for (int64_t j = 0; j < kCodeSize; ++j) {
      cursor.silent_steps[j] = loss.fired[j] != 0 ? 0 : cursor.silent_steps[j] + 1;
    }
    if (config.resample_every > 0 && cursor.steps % config.resample_every == 0) {
      const auto dead = dead_units(cursor, config.dead_steps);
      if (resample_dead_units(model, optimizer, images, dead, config.seed, cursor.steps, group) >
          0) {
        for (int64_t j = 0; j < kCodeSize; ++j) {
          if (dead[j] != 0) cursor.silent_steps[j] = 0;  // a fresh unit gets a fresh window
        }
      }
    }
    images_since_log += count;
    if (log_step && cursor.steps % config.log_every == 0) {
      log_step({cursor.steps, epoch, loss.loss, loss.mse, loss.loss - loss.mse, loss.l0, config.lr,
                static_cast<double>(images_since_log) / since_log.seconds()});
      since_log = Stopwatch();
      images_since_log = 0;
    }
    bar.step(count, loss.loss);
    if (cursor.batches < num_batches && should_stop()) break;
  }
  bar.finish();
  if (profiled) log_step_profile(cpu_step->profile(), step_seconds);
  time_matmuls(false);
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
