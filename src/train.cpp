#include "sae/train.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/atomic_file.hpp"
#include "sae/checkpoint.hpp"
#include "sae/device.hpp"
#include "sae/eval.hpp"
#include "sae/plot.hpp"
#include "sae/reconstruct.hpp"

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
constexpr const char* kMetricsHeader =
    "epoch,train_loss,train_mse,train_kl,test_loss,test_mse,test_kl,seconds,images_per_s";

template <typename T>
void require(bool ok, const char* flag, const char* rule, T value) {
  if (!ok) throw std::invalid_argument(fmt::format("{} must be {}, got {}", flag, rule, value));
}

std::string default_run_dir() {
  const std::time_t now = std::time(nullptr);
  return fmt::format("runs/{:%Y%m%d-%H%M%S}", fmt::localtime(now));
}

/// Creates the run folder; refuses to write into a non-empty one unless forced.
void prepare_run_dir(const std::string& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw std::invalid_argument(fmt::format("--out {}: exists and is not a folder", dir));
  }
  if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec) && !force) {
    throw std::invalid_argument(fmt::format(
        "--out {}: the folder already holds files; pass --force to overwrite, or choose another "
        "--out",
        dir));
  }
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(fmt::format("--out {}: cannot create: {}", dir, ec.message()));
}

/// One metrics.csv row per epoch.
struct EpochRow {
  int64_t epoch;
  LossAverages train;
  EvalMetrics test;
  double seconds;
};

void write_metrics_csv(const std::string& path, const std::vector<EpochRow>& rows) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << kMetricsHeader << '\n';
    for (const auto& r : rows) {
      out << fmt::format("{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.3f},{:.1f}\n", r.epoch,
                         r.train.loss, r.train.mse, r.train.kl, r.test.loss, r.test.mse, r.test.kl,
                         r.seconds, r.train.images_per_s);
    }
  });
}

void plot_loss(const std::string& path, const std::vector<EpochRow>& rows) {
  Series train{"train loss", {}, {}};
  Series test{"test loss", {}, {}};
  for (const auto& r : rows) {
    train.x.push_back(static_cast<double>(r.epoch));
    train.y.push_back(r.train.loss);
    test.x.push_back(static_cast<double>(r.epoch));
    test.y.push_back(r.test.loss);
  }
  plot_lines(path, "Sparse autoencoder: MSE + beta * KL", "epoch", "loss", {train, test});
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

LossAverages train_one_epoch(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                             const SparseLoss& loss_fn, const Dataset& data, int64_t batch_size,
                             uint64_t seed, int64_t epoch, const torch::Device& device,
                             ProgressStyle progress_style) {
  model->train();
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = data.size();
  const auto order = torch::tensor(epoch_order(n, seed, epoch), torch::kInt64);
  const int64_t num_batches = (n + batch_size - 1) / batch_size;  // the last partial batch is kept
  Progress progress(fmt::format("epoch {}", epoch), num_batches, progress_style);
  double loss_sum = 0.0, mse_sum = 0.0, kl_sum = 0.0;

  for (int64_t b = 0; b < num_batches; ++b) {
    const auto indices = order.slice(0, b * batch_size, std::min((b + 1) * batch_size, n));
    const auto images = to_float_batch(data.images, indices).to(device);  // (B, 1, 28, 28)
    const auto out = model->forward(images);  // reconstruction (B, 1, 28, 28), code (B, 64)
    const auto terms = loss_fn(out.reconstruction, images, out.code);
    optimizer.zero_grad();
    terms.total.backward();
    optimizer.step();

    const double loss = terms.total.item<double>();
    if (!std::isfinite(loss)) {
      throw std::runtime_error(
          fmt::format("loss became {} at epoch {}, batch {}/{}; try a smaller --lr or --beta", loss,
                      epoch, b + 1, num_batches));
    }
    const auto count = static_cast<double>(images.size(0));
    loss_sum += loss * count;
    mse_sum += terms.mse.item<double>() * count;
    kl_sum += terms.kl.item<double>() * count;
    progress.step(images.size(0), loss);
  }
  progress.finish();

  LossAverages avg;
  avg.loss = loss_sum / n;
  avg.mse = mse_sum / n;
  avg.kl = kl_sum / n;
  avg.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  avg.images_per_s = n / std::max(avg.seconds, 1e-9);
  return avg;
}

int run_train(TrainOptions o) {
  validate(o);
  const torch::Device device = resolve_device(o.device);
  set_threads(o.threads);
  if (o.out.empty()) o.out = default_run_dir();
  const Dataset train = load_split(o.data_dir, Split::kTrain);
  const Dataset test = load_split(o.data_dir, Split::kTest);
  prepare_run_dir(o.out, o.force);
  const fs::path run(o.out);
  write_atomically((run / "config.toml").string(),
                   [&](const std::string& tmp) { std::ofstream(tmp) << o.config_toml; });

  torch::manual_seed(o.seed);  // the initial weights
  SparseAutoencoder model;
  model->to(device);
  torch::optim::Adam optimizer(
      model->parameters(),
      torch::optim::AdamOptions(o.lr).betas(std::make_tuple(0.9, 0.999)).eps(1e-8));
  const SparseLoss loss_fn(o.beta, o.rho);
  const ProgressStyle progress = default_progress_style(o.quiet);

  spdlog::info("training on {} ({} train / {} test images), {} epochs, device {}, {} threads",
               o.data_dir, train.size(), test.size(), o.epochs, device.str(),
               torch::get_num_threads());
  spdlog::info("run folder {}", o.out);
  std::vector<EpochRow> rows;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const LossAverages tr = train_one_epoch(model, optimizer, loss_fn, train, o.batch_size, o.seed,
                                            epoch, device, progress);
    const EvalMetrics te = evaluate(model, test, o.beta, o.rho, o.test_batch_size, device);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    rows.push_back({epoch, tr, te, seconds});
    spdlog::info(
        "epoch {:>{}}/{}  train loss {:.5f} mse {:.5f} kl {:.3f} | test loss {:.5f} mse {:.5f} "
        "kl {:.3f} | {:.0f} img/s  {:.1f} s",
        epoch, std::to_string(o.epochs).size(), o.epochs, tr.loss, tr.mse, tr.kl, te.loss, te.mse,
        te.kl, tr.images_per_s, seconds);

    write_metrics_csv((run / "metrics.csv").string(), rows);
    save_checkpoint(o.out, model, optimizer,
                    {epoch, o.beta, o.rho, o.lr, o.batch_size, o.seed, o.data_dir});
    plot_loss((run / "loss.png").string(), rows);
  }
  write_png((run / "reconstructions.png").string(),
            reconstruction_grid(model, test, kGridImages, device));
  spdlog::info("done: {}/model.pt; evaluate it with `sae eval --checkpoint {}/model.pt`", o.out,
               o.out);
  return 0;
}

}  // namespace sae
