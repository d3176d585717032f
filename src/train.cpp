#include "sae/train.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/atomic_file.hpp"
#include "sae/device.hpp"
#include "sae/eval.hpp"
#include "sae/interrupt.hpp"
#include "sae/reconstruct.hpp"
#include "sae/run_folder.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kGridImages = 16;

template <typename T>
void require(bool ok, const char* flag, const char* rule, T value) {
  if (!ok) throw std::invalid_argument(fmt::format("{} must be {}, got {}", flag, rule, value));
}

std::string default_run_dir() {
  const std::time_t now = std::time(nullptr);
  return fmt::format("runs/{:%Y%m%d-%H%M%S}", fmt::localtime(now));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Where a run starts: from scratch, or from the checkpoint of the run being resumed.
struct StartPoint {
  SparseAutoencoder model;
  CheckpointInfo info;                // epoch 0 and no partial epoch for a fresh run
  std::vector<EpochMetrics> history;  // metrics.csv rows so far
};

StartPoint start_fresh(const TrainOptions& o, const torch::Device& device) {
  prepare_run_dir(o.out, o.force);
  write_metrics_csv((fs::path(o.out) / "metrics.csv").string(), {});  // so a resume finds it
  torch::manual_seed(o.seed);                                         // the initial weights
  StartPoint start{SparseAutoencoder(), {}, {}};
  start.model->to(device);
  return start;
}

StartPoint start_from_checkpoint(const TrainOptions& o, const torch::Device& device) {
  const std::string model_path = (fs::path(o.out) / "model.pt").string();
  StartPoint start{load_model(model_path, device), load_checkpoint_info(model_path),
                   read_metrics_csv((fs::path(o.out) / "metrics.csv").string())};
  const auto& info = start.info;
  if (info.epoch >= o.epochs) {
    throw std::invalid_argument(fmt::format(
        "--resume {}: the run already finished {} of {} epochs; pass a larger --epochs to train "
        "further",
        o.out, info.epoch, o.epochs));
  }
  if (info.partial.batches > 0 && info.batch_size != o.batch_size) {
    throw std::invalid_argument(fmt::format(
        "--resume {}: epoch {} was interrupted with --batch-size {}; resume it with the same",
        o.out, info.epoch + 1, info.batch_size));
  }
  // Epochs past the checkpoint (saved after an interruption) are trained again.
  auto& history = start.history;
  while (!history.empty() && history.back().epoch > info.epoch) history.pop_back();
  return start;
}

EpochMetrics epoch_metrics(int64_t epoch, const EpochProgress& p, const EvalMetrics& test,
                           double seconds) {
  const auto n = static_cast<double>(p.images);
  return {epoch,        p.loss_sum / n, p.mse_sum / n,
          p.kl_sum / n, test.loss,      test.mse,
          test.kl,      seconds,        n / std::max(p.seconds, 1e-9)};
}

}  // namespace

void validate(const TrainOptions& o) {
  check_sparsity_params(o.beta, o.rho);
  require(o.epochs >= 1, "--epochs", "at least 1", o.epochs);
  require(o.lr > 0 && std::isfinite(o.lr), "--lr", "a positive number", o.lr);
  require(o.batch_size >= 1, "--batch-size", "at least 1", o.batch_size);
  require(o.test_batch_size >= 1, "--test-batch-size", "at least 1", o.test_batch_size);
  require(o.threads >= 0, "--threads", "0 (one per core) or more", o.threads);
}

bool train_epoch(SparseAutoencoder& model, torch::optim::Adam& optimizer, const SparseLoss& loss_fn,
                 const Dataset& data, int64_t batch_size, uint64_t seed, int64_t epoch,
                 const torch::Device& device, EpochProgress& progress, ProgressStyle style,
                 const std::function<bool()>& should_stop) {
  model->train();
  const int64_t n = data.size();
  const auto order = torch::tensor(epoch_order(n, seed, epoch), torch::kInt64);
  const int64_t num_batches = (n + batch_size - 1) / batch_size;  // the last partial batch is kept
  Progress bar(fmt::format("epoch {}", epoch), num_batches, style, progress.batches);

  while (progress.batches < num_batches) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t b = progress.batches;
    const auto indices = order.slice(0, b * batch_size, std::min((b + 1) * batch_size, n));
    const auto images = to_float_batch(data.images, indices).to(device);  // (B, 1, 28, 28)
    const auto out = model->forward(images);  // reconstruction (B, 1, 28, 28), code (B, 64)
    const auto terms = loss_fn(out.reconstruction, images, out.code);
    const double loss = terms.total.item<double>();
    if (!std::isfinite(loss)) {
      throw NonFiniteLoss(
          fmt::format("loss became {} at epoch {}, batch {}/{}", loss, epoch, b + 1, num_batches));
    }
    optimizer.zero_grad();
    terms.total.backward();
    optimizer.step();

    const auto count = static_cast<double>(images.size(0));
    progress.batches += 1;
    progress.images += images.size(0);
    progress.loss_sum += loss * count;
    progress.mse_sum += terms.mse.item<double>() * count;
    progress.kl_sum += terms.kl.item<double>() * count;
    progress.seconds += seconds_since(start);
    bar.step(images.size(0), loss);
    if (progress.batches < num_batches && should_stop()) break;
  }
  bar.finish();
  return progress.batches == num_batches;
}

int run_train(TrainOptions o) {
  validate(o);
  const torch::Device device = resolve_device(o.device);
  set_threads(o.threads);
  if (!o.resume.empty()) o.out = o.resume;
  if (o.out.empty()) o.out = default_run_dir();
  // Data first: a bad data folder must not leave an empty run folder behind.
  const Dataset train = load_split(o.data_dir, Split::kTrain);
  const Dataset test = load_split(o.data_dir, Split::kTest);
  StartPoint start = o.resume.empty() ? start_fresh(o, device) : start_from_checkpoint(o, device);
  SparseAutoencoder& model = start.model;
  std::vector<EpochMetrics>& history = start.history;
  torch::optim::Adam optimizer(
      model->parameters(),
      torch::optim::AdamOptions(o.lr).betas(std::make_tuple(0.9, 0.999)).eps(1e-8));
  if (!o.resume.empty()) load_optimizer((fs::path(o.out) / "model.pt").string(), optimizer);

  const fs::path run(o.out);
  write_atomically((run / "config.toml").string(),
                   [&](const std::string& tmp) { std::ofstream(tmp) << o.config_toml; });
  const SparseLoss loss_fn(o.beta, o.rho);
  const ProgressStyle style = default_progress_style(o.quiet);
  auto checkpoint = [&](int64_t epochs_done, const EpochProgress& partial) {
    save_checkpoint(o.out, model, optimizer,
                    {epochs_done, partial, o.beta, o.rho, o.lr, o.batch_size, o.seed, o.data_dir});
  };

  spdlog::info("training on {} ({} train / {} test images), epochs {}..{}, device {}, {} threads",
               o.data_dir, train.size(), test.size(), start.info.epoch + 1, o.epochs, device.str(),
               torch::get_num_threads());
  spdlog::info("run folder {}", o.out);
  const StopOnSignal stop;
  for (int64_t epoch = start.info.epoch + 1; epoch <= o.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    EpochProgress progress = epoch == start.info.epoch + 1 ? start.info.partial : EpochProgress{};
    bool complete = false;
    try {
      complete = train_epoch(model, optimizer, loss_fn, train, o.batch_size, o.seed, epoch, device,
                             progress, style, [] { return StopOnSignal::received() != 0; });
    } catch (const NonFiniteLoss& e) {
      throw NonFiniteLoss(
          fmt::format("{}; try a smaller --lr or --beta. The last good "
                      "checkpoint (epoch {}) stays in {}",
                      e.what(), epoch - 1, o.out));
    }
    if (!complete) {
      checkpoint(epoch - 1, progress);
      spdlog::warn("interrupted in epoch {} after batch {}; checkpoint saved in {}", epoch,
                   progress.batches, o.out);
      spdlog::warn("continue with: sae train --resume {}", o.out);
      return kExitSignalBase + StopOnSignal::received();
    }
    const EvalMetrics te = evaluate(model, test, o.beta, o.rho, o.test_batch_size, device);
    const EpochMetrics row = epoch_metrics(epoch, progress, te, seconds_since(epoch_start));
    history.push_back(row);
    spdlog::info(
        "epoch {:>{}}/{}  train loss {:.5f} mse {:.5f} kl {:.3f} | test loss {:.5f} mse {:.5f} "
        "kl {:.3f} | {:.0f} img/s  {:.1f} s",
        epoch, std::to_string(o.epochs).size(), o.epochs, row.train_loss, row.train_mse,
        row.train_kl, row.test_loss, row.test_mse, row.test_kl, row.images_per_s, row.seconds);

    write_metrics_csv((run / "metrics.csv").string(), history);
    checkpoint(epoch, EpochProgress{});
    plot_loss_curve((run / "loss.png").string(), history);
    if (StopOnSignal::received() != 0 && epoch < o.epochs) {
      spdlog::warn("interrupted after epoch {}; checkpoint saved in {}", epoch, o.out);
      spdlog::warn("continue with: sae train --resume {}", o.out);
      return kExitSignalBase + StopOnSignal::received();
    }
  }
  write_png((run / "reconstructions.png").string(),
            reconstruction_grid(model, test, kGridImages, device));
  spdlog::info("done: {}/model.pt; evaluate it with `sae eval --checkpoint {}/model.pt`", o.out,
               o.out);
  return 0;
}

}  // namespace sae
