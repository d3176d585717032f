#include "sae/train.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "sae/atomic_file.hpp"
#include "sae/device.hpp"
#include "sae/eval.hpp"
#include "sae/inspect.hpp"
#include "sae/interrupt.hpp"
#include "sae/probe.hpp"
#include "sae/reconstruct.hpp"
#include "sae/run_folder.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <optional>
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
  // A run that finished its epochs but not its final pictures and summary gets those now.
  if (info.epoch >= o.epochs && fs::exists(fs::path(o.out) / "summary.json")) {
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
  EpochMetrics row;
  row.epoch = epoch;
  row.train_loss = p.loss_sum / n;
  row.train_mse = p.mse_sum / n;
  row.train_kl = p.kl_sum / n;
  row.test_loss = test.loss;
  row.test_mse = test.mse;
  row.test_kl = test.kl;
  row.test_explained_variance = test.explained_variance;
  row.test_mean_rho_hat = test.mean_rho_hat;
  row.test_dead_units = test.dead_units;
  row.test_far_units = test.far_units;
  row.test_l0 = test.mean_l0;
  row.seconds = seconds;
  row.images_per_s = n / std::max(p.seconds, 1e-9);
  return row;
}

}  // namespace

void validate(const TrainOptions& o) {
  check_sparsity_params(o.beta, o.rho);
  require(o.epochs >= 1, "--epochs", "at least 1", o.epochs);
  require(o.lr > 0 && std::isfinite(o.lr), "--lr", "a positive number", o.lr);
  require(o.batch_size >= 1, "--batch-size", "at least 1", o.batch_size);
  require(o.test_batch_size >= 1, "--test-batch-size", "at least 1", o.test_batch_size);
  require(o.threads >= 0, "--threads", "0 (one per core) or more", o.threads);
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay), "--weight-decay", ">= 0",
          o.weight_decay);
  require(o.beta_warmup >= 0, "--beta-warmup", ">= 0", o.beta_warmup);
  parse_penalty(o.penalty);
}

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

bool train_epoch(SparseAutoencoder& model, torch::optim::Adam& optimizer, const Dataset& data,
                 const StepSettings& settings, int64_t epoch, EpochProgress& progress,
                 ProgressStyle style, const std::function<bool()>& should_stop) {
  model->train();
  const int64_t n = data.size();
  const int64_t batch_size = settings.batch_size;
  const auto order = torch::tensor(epoch_order(n, settings.seed, epoch), torch::kInt64);
  const int64_t num_batches = (n + batch_size - 1) / batch_size;  // the last partial batch is kept
  Progress bar(fmt::format("epoch {}", epoch), num_batches, style, progress.batches);

  if (progress.batches > num_batches) {
    throw std::invalid_argument(fmt::format(
        "epoch {} was interrupted after batch {}, but this data has only {} batches: resume "
        "with the data and --batch-size it was trained with",
        epoch, progress.batches, num_batches));
  }
  while (progress.batches < num_batches) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t b = progress.batches;
    const int64_t step = (epoch - 1) * num_batches + b + 1;  // 1-based, across epochs
    const double warmup = settings.beta_warmup > 0
                              ? std::min(1.0, static_cast<double>(step) / settings.beta_warmup)
                              : 1.0;
    const SparseLoss loss_fn = settings.loss.with_beta(settings.loss.beta() * warmup);

    const auto indices = order.slice(0, b * batch_size, std::min((b + 1) * batch_size, n));
    const auto images = to_float_batch(data.images, indices).to(settings.device);  // (B,1,28,28)
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

std::string to_config_toml(const TrainOptions& o) {
  // Keys are the flags' names, so `sae train --config` reads the file back. TOML's basic strings
  // escape like JSON's; fmt prints doubles in their shortest exact form.
  const auto quoted = [](const std::string& text) { return nlohmann::json(text).dump(); };
  return fmt::format(
      "[train]\n"
      "epochs = {}\nbeta = {}\nrho = {}\npenalty = {}\nbeta-warmup = {}\nlr = {}\n"
      "weight-decay = {}\nbatch-size = {}\ntest-batch-size = {}\nseed = {}\ndata-dir = {}\n"
      "out = {}\ndevice = {}\nthreads = {}\n",
      o.epochs, o.beta, o.rho, quoted(o.penalty), o.beta_warmup, o.lr, o.weight_decay, o.batch_size,
      o.test_batch_size, o.seed, quoted(o.data_dir), quoted(o.out), quoted(o.device), o.threads);
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
  torch::optim::Adam optimizer = make_optimizer(model, o.lr, o.weight_decay);
  if (!o.resume.empty()) load_optimizer((fs::path(o.out) / "model.pt").string(), optimizer);

  const fs::path run(o.out);
  write_text_atomically((run / "config.toml").string(), to_config_toml(o));
  const StepSettings settings{SparseLoss(o.beta, o.rho, parse_penalty(o.penalty)), o.batch_size,
                              o.beta_warmup, o.seed, device};
  const ProgressStyle style = default_progress_style(o.quiet);
  auto checkpoint = [&](int64_t epochs_done, const EpochProgress& partial) {
    CheckpointInfo info;
    info.epoch = epochs_done;
    info.partial = partial;
    info.beta = o.beta;
    info.rho = o.rho;
    info.penalty = o.penalty;
    info.lr = o.lr;
    info.batch_size = o.batch_size;
    info.seed = o.seed;
    info.data_dir = o.data_dir;
    save_checkpoint(o.out, model, optimizer, info);
  };

  spdlog::info("training on {} ({} train / {} test images), epochs {}..{}, device {}, {} threads",
               o.data_dir, train.size(), test.size(), start.info.epoch + 1, o.epochs, device.str(),
               torch::get_num_threads());
  const StopOnSignal stop;  // before the log line that tells a watcher training has begun
  spdlog::info("run folder {}", o.out);
  std::optional<EvalMetrics> last_test;  // of the last epoch trained in this process
  const auto run_start = std::chrono::steady_clock::now();
  for (int64_t epoch = start.info.epoch + 1; epoch <= o.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    EpochProgress progress = epoch == start.info.epoch + 1 ? start.info.partial : EpochProgress{};
    bool complete = false;
    try {
      complete = train_epoch(model, optimizer, train, settings, epoch, progress, style,
                             [] { return StopOnSignal::received() != 0; });
    } catch (const NonFiniteLoss& e) {
      // The checkpoint on disk, if any, predates this epoch; nothing of it was saved.
      throw NonFiniteLoss(fmt::format("{}; try a smaller --lr or --beta{}", e.what(),
                                      epoch > 1 ? fmt::format(" ({} keeps the checkpoint of "
                                                              "epoch {})",
                                                              o.out, epoch - 1)
                                                : std::string()));
    }
    if (!complete) {
      checkpoint(epoch - 1, progress);
      spdlog::warn("interrupted in epoch {} after batch {}; checkpoint saved in {}", epoch,
                   progress.batches, o.out);
      spdlog::warn("continue with: sae train --resume {}", o.out);
      return kExitSignalBase + StopOnSignal::received();
    }
    const EvalMetrics& te =
        last_test.emplace(evaluate(model, test, settings.loss, o.test_batch_size, device));
    const EpochMetrics row = epoch_metrics(epoch, progress, te, seconds_since(epoch_start));
    history.push_back(row);
    spdlog::info(
        "epoch {:>{}}/{}  train loss {:.5f} mse {:.5f} kl {:.3f} | test loss {:.5f} mse {:.5f} "
        "kl {:.3f} L0 {:.1f} dead {} | {:.0f} img/s  {:.1f} s",
        epoch, std::to_string(o.epochs).size(), o.epochs, row.train_loss, row.train_mse,
        row.train_kl, row.test_loss, row.test_mse, row.test_kl, row.test_l0, row.test_dead_units,
        row.images_per_s, row.seconds);

    write_metrics_csv((run / "metrics.csv").string(), history);
    checkpoint(epoch, EpochProgress{});
    plot_loss_curve((run / "loss.png").string(), history);
    if (StopOnSignal::received() != 0 && epoch < o.epochs) {
      spdlog::warn("interrupted after epoch {}; checkpoint saved in {}", epoch, o.out);
      spdlog::warn("continue with: sae train --resume {}", o.out);
      return kExitSignalBase + StopOnSignal::received();
    }
  }

  // What the finished model learned: the pictures, the probe, and a summary for sweeps.
  write_png((run / "reconstructions.png").string(),
            reconstruction_grid(model, test, kGridImages, device));
  // The last epoch's test metrics, unless a resume came only to finish this stage.
  const EvalMetrics final_metrics =
      last_test ? *last_test : evaluate(model, test, settings.loss, o.test_batch_size, device);
  const torch::Tensor test_codes = encode_all(model, test, o.test_batch_size, device);  // (N, 64)
  write_inspection(o.out, model, test, final_metrics, test_codes, o.rho, device);
  const ProbeResult probe = linear_probe(encode_all(model, train, o.test_batch_size, device),
                                         train.labels, test_codes, test.labels);
  write_summary_json((run / "summary.json").string(),
                     {final_metrics, probe, seconds_since(run_start)});
  spdlog::info("linear probe on the code: {:.2f}% test accuracy", 100 * probe.test_accuracy);
  spdlog::info("done: {}/model.pt; evaluate it with `sae eval --checkpoint {}/model.pt`", o.out,
               o.out);
  return 0;
}

}  // namespace sae
