#include "sae/run/run.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/analysis/curves.hpp"
#include "sae/base/atomic_file.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/base/stopwatch.hpp"
#include "sae/base/terminal.hpp"
#include "sae/report/pages.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/train/probe.hpp"
#include "sae/train/train.hpp"

#include <cmath>
#include <filesystem>

namespace sae {
namespace {

namespace fs = std::filesystem;

/// The initial weights, of the config's kind of code, drawn from its seed: a run is reproducible
/// from its config.
SparseAutoencoder initial_model(const RunConfig& config, const torch::Device& device) {
  torch::manual_seed(config.seed);
  SparseAutoencoder model(code_spec(config));
  model->to(device);
  return model;
}

/// Makes RUN/model.pt the committed model again. A commit writes it just after the manifest, so a
/// kill between the two leaves the previous commit's model there, which no later stage rewrites
/// when that commit was the last.
void restore_latest_model(const std::string& dir, const Checkpoint& checkpoint) {
  if (!checkpoint.model_bytes) return;
  const std::string latest = (fs::path(dir) / kModelFile).string();
  std::optional<std::string> bytes;
  try {
    bytes = read_file(latest);
  } catch (const std::exception&) {  // missing, or not a regular file: written anew
  }
  if (bytes != checkpoint.model_bytes) write_file_atomically(latest, *checkpoint.model_bytes);
}

/// Copies the parameters of the model file into `model`, whose optimizer already holds them.
void load_parameters(SparseAutoencoder& model, const Checkpoint& checkpoint,
                     const torch::Device& device) {
  SparseAutoencoder loaded = load_model(checkpoint, device);
  torch::NoGradGuard no_grad;
  const auto source = loaded->named_parameters();
  for (auto& p : model->named_parameters()) p.value().copy_(source[p.key()]);
  const auto buffers = loaded->named_buffers();  // batchtopk's threshold
  for (auto& b : model->named_buffers()) b.value().copy_(buffers[b.key()]);
}

/// A resume may change the settings only where the interrupted epoch does not depend on them.
void check_resumable(const Checkpoint& checkpoint, const RunConfig& requested,
                     const std::string& dir) {
  const RunConfig& was = checkpoint.config;
  const int64_t epoch = checkpoint.cursor.epoch + 1;
  if (checkpoint.cursor.batches > 0) {
    const auto refuse = [&](const char* flag, const auto& before, const auto& now) {
      throw UsageError(fmt::format(
          "--resume {}: epoch {} was interrupted with --{} {}, not {}; resume it with the same "
          "--{} (other settings may change), or start a new run",
          dir, epoch, flag, before, now, flag));
    };
    if (requested.batch_size != was.batch_size) {
      refuse("batch-size", was.batch_size, requested.batch_size);
    }
    if (requested.seed != was.seed) refuse("seed", was.seed, requested.seed);
    if (requested.data_dir != was.data_dir) refuse("data-dir", was.data_dir, requested.data_dir);
    // The held-out images are not in the epoch's order of training images.
    if (requested.val_fraction != was.val_fraction) {
      refuse("val-fraction", was.val_fraction, requested.val_fraction);
    }
    if (requested.val_size != was.val_size) refuse("val-size", was.val_size, requested.val_size);
  }
  if (checkpoint.cursor.batches > 0 && requested.epochs <= checkpoint.cursor.epoch) {
    throw UsageError(fmt::format(
        "--resume {}: epoch {} was interrupted; --epochs {} would drop it: pass --epochs {} or "
        "more",
        dir, epoch, requested.epochs, epoch));
  }
  if (checkpoint.cursor.epoch >= requested.epochs && fs::exists(fs::path(dir) / kSummaryFile)) {
    throw UsageError(fmt::format(
        "--resume {}: the run already finished {} of {} epochs; pass a larger --epochs to train "
        "further",
        dir, checkpoint.cursor.epoch, requested.epochs));
  }
}

/// The epoch's line: what a person watches, in at most ~100 columns; on a narrower terminal it
/// breaks between fields rather than inside one.
void log_epoch(const EpochMetrics& row, int64_t epochs) {
  const char* scored = row.on_validation ? "val" : "test";
  const std::vector<std::string> fields = {
      fmt::format("epoch {:>{}}/{}", row.epoch, std::to_string(epochs).size(), epochs),
      fmt::format("train {:.5f}", row.train_loss),
      fmt::format("{} {:.5f} (mse {:.5f} L0 {:.1f} dead {})", scored, row.test.loss, row.test.mse,
                  row.test.mean_l0, row.test.dead_units),
      fmt::format("{:.0f} img/s", row.images_per_s)};
  constexpr int kLogPrefix = 16;  // "[12:34:56 info] "
  const int columns = terminal_columns();
  std::string line;
  for (const std::string& field : fields) {
    const bool fits =
        columns <= 0 || static_cast<int>(kLogPrefix + line.size() + 2 + field.size()) < columns;
    if (!line.empty() && !fits) {
      spdlog::info("{}", line);
      line = "  ";
    } else if (!line.empty()) {
      line += "  ";
    }
    line += field;
  }
  spdlog::info("{}", line);
}

}  // namespace

void check_resumable_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw UsageError(fmt::format("--resume {}: no such run folder", dir));
  }
  // config.toml is what the flags were laid over: without it the settings would be defaults.
  if (!fs::exists(fs::path(dir) / kConfigFile)) {
    throw UsageError(fmt::format(
        "--resume {}: not a run folder, or a damaged one: {} is missing{}", dir, kConfigFile,
        fs::exists(fs::path(dir) / kManifestFile)
            ? "; its settings are under \"config\" in checkpoint.json: write them back as "
              "config.toml ([train] section) to resume"
            : ""));
  }
}

Run::Run(std::string dir, std::optional<RunLock> lock, const RunConfig& config,
         const torch::Device& device, const ProcessGroup& group)
    : dir_(std::move(dir)),
      lock_(std::move(lock)),
      group_(group),
      config_(config),
      device_(device),
      model_(initial_model(config, device)),
      optimizer_(make_optimizer(model_, config.lr, config.weight_decay)) {}

std::unique_ptr<Run> Run::create(const RunConfig& config, std::string dir, bool force,
                                 const torch::Device& device, const ProcessGroup& group,
                                 const std::string& launch_id) {
  validate(config);
  if (!group.is_writer()) return std::make_unique<Run>(dir, std::nullopt, config, device, group);
  std::error_code ec;
  if (dir.empty()) {
    dir = claim_default_run_dir();
  } else if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw UsageError(fmt::format("--out {}: exists and is not a folder", dir));
  } else if (fs::create_directories(dir, ec); ec) {
    throw std::runtime_error(fmt::format("--out {}: cannot create: {}", dir, ec.message()));
  }
  check_new_run_dir(dir, force);  // before the lock: a refused folder must not get a lock file
  RunLock lock(dir);
  prepare_new_run_dir(dir, force);
  // Before anything else: a worker killed after it is still continued, not refused, on restart.
  if (!launch_id.empty()) write_launch_record(dir, launch_id);
  auto run = std::make_unique<Run>(dir, std::move(lock), config, device, group);
  write_file_atomically(run->path(kConfigFile), to_toml(config));
  write_metrics_csv(run->path(kMetricsFile), {}, has_validation(config));  // a resume reads it
  return run;
}

std::unique_ptr<Run> Run::resume(const std::string& dir, const RunConfig& config,
                                 const torch::Device& device, const ProcessGroup& group) {
  validate(config);
  check_resumable_folder(dir);
  // Rank 0 holds the lock; the other ranks only read the committed checkpoint, as rank 0 does.
  std::optional<RunLock> lock;
  if (group.is_writer()) lock.emplace(dir);
  const std::optional<Checkpoint> checkpoint = find_checkpoint(dir);
  if (!checkpoint) {
    // model.pt is written only after a manifest: with it but without one, the manifest was lost.
    // (Step files alone are a first commit that a crash cut short: nothing was committed.)
    if (fs::exists(fs::path(dir) / kModelFile)) {
      throw CheckpointError(fmt::format(
          "--resume {}: {} is missing but {} is there: the run folder was damaged; restore "
          "checkpoint.json from a copy, or start over with --force",
          dir, kManifestFile, kModelFile));
    }
    // Killed before its first commit: nothing to continue, so the run starts over, as it was.
    spdlog::warn("{} has no committed checkpoint yet; training it from the start", dir);
    auto run = std::make_unique<Run>(dir, std::move(lock), config, device, group);
    if (!group.is_writer()) return run;
    const std::optional<std::string> launch = read_launch_record(dir);
    prepare_new_run_dir(dir, /*force=*/true);
    if (launch) write_launch_record(dir, *launch);  // still the launch's folder
    write_file_atomically(run->path(kConfigFile), to_toml(config));
    write_metrics_csv(run->path(kMetricsFile), {}, has_validation(config));
    return run;
  }
  check_resumable(*checkpoint, config, dir);
  if (group.is_writer()) {
    remove_stale_checkpoint_files(dir);
    restore_latest_model(dir, *checkpoint);
  }
  auto run = std::make_unique<Run>(dir, std::move(lock), config, device, group);
  load_parameters(run->model_, *checkpoint, device);
  load_optimizer(*checkpoint, run->optimizer_);
  run->cursor_ = checkpoint->cursor;
  if (!group.is_writer()) return run;
  run->history_ = read_metrics_csv(run->path(kMetricsFile));
  // Rows past the checkpoint (written just before a crash) are trained again.
  while (!run->history_.empty() && run->history_.back().epoch > run->cursor_.epoch) {
    run->history_.pop_back();
  }
  write_metrics_csv(run->path(kMetricsFile), run->history_, has_validation(config));
  // Rows past the checkpoint are logged again as those steps are trained again: no gap, no twice.
  trim_steps_csv(run->path(kStepsFile), run->cursor_.steps);
  write_file_atomically(run->path(kConfigFile), to_toml(config));
  return run;
}

std::string Run::path(const char* file) const {
  return (fs::path(dir_) / file).string();
}

bool Run::train_epoch(const Dataset& train, ProgressStyle style,
                      const std::function<bool()>& should_stop) {
  const Stopwatch stopwatch;
  try {
    std::function<void(const StepRecord&)> log_step;
    if (is_writer()) {
      log_step = [this](const StepRecord& row) { append_steps_csv(path(kStepsFile), row); };
    }
    const bool complete =
        sae::train_epoch(model_, optimizer_, train, config_, device_, cursor_,
                         is_writer() ? style : ProgressStyle::kNone, should_stop, group_, log_step);
    epoch_seconds_ += stopwatch.seconds();
    return complete;
  } catch (const NonFiniteLoss& e) {
    throw NonFiniteLoss(e.what() + advice_after_non_finite());
  }
}

std::string Run::advice_after_non_finite() const {
  return fmt::format(
      "; try a smaller --lr or --beta{}",
      cursor_.epoch > 0 ? fmt::format(" ({} keeps the checkpoint of epoch {})", dir_, cursor_.epoch)
                        : std::string());
}

const EpochMetrics& Run::finish_epoch(const Dataset& scored) {
  const Stopwatch stopwatch;
  const int64_t epoch = cursor_.epoch + 1;
  const Evaluation& te = last_eval_.emplace(
      evaluate(model_, scored, run_loss(config_), config_.test_batch_size, device_));
  // A step can blow up the weights without a non-finite loss before it: check before committing.
  if (!all_finite(model_) || !std::isfinite(te.metrics.loss)) {
    throw NonFiniteLoss(fmt::format("the weights became non-finite in epoch {} ({} loss {}){}",
                                    epoch, has_validation(config_) ? "validation" : "test",
                                    te.metrics.loss, advice_after_non_finite()));
  }
  const auto n = static_cast<double>(cursor_.images);
  EpochMetrics row;
  row.epoch = epoch;
  row.train_loss = cursor_.loss_sum / n;
  row.train_mse = cursor_.mse_sum / n;
  row.train_kl = cursor_.kl_sum / n;
  row.train_dead_units = dead_unit_count(cursor_, config_.dead_steps);  // at the epoch's end
  row.test = te.metrics;
  row.on_validation = has_validation(config_);
  row.seconds = epoch_seconds_ + stopwatch.seconds();
  row.images_per_s = n / std::max(cursor_.seconds, 1e-9);
  history_.push_back(row);
  cursor_ = cursor_.next_epoch();
  epoch_seconds_ = 0.0;

  if (is_writer()) {
    write_metrics_csv(path(kMetricsFile), history_, has_validation(config_));
    save();
    plot_loss_curves(path(kLossPlotFile), history_, config_);
  }
  return history_.back();
}

void Run::save() {
  if (is_writer()) save_checkpoint(dir_, model_, optimizer_, config_, cursor_);
}

int Run::agreed_stop_signal() const {
  if (group_.world_size() == 1) return stop_signal();
  // Each rank puts its signal in its own slot; the sum is every rank's, and the first wins.
  auto signals = torch::zeros({group_.world_size()},
                              torch::TensorOptions(torch::kFloat64).device(device_));  // NCCL: GPU
  signals[group_.rank()] = static_cast<double>(stop_signal());
  group_.all_reduce_sum(signals);
  for (int64_t r = 0; r < signals.size(0); ++r) {
    if (const auto s = static_cast<int>(signals[r].item<double>()); s != 0) return s;
  }
  return 0;
}

RunSummary Run::finish(const Dataset& train, const Dataset& test, StatusLine* status) {
  const auto stage = [&](const char* what) {
    if (status != nullptr) status->show(what);
  };
  // The last epoch's test pass, unless a resume came only to finish this stage, or the epochs were
  // scored on a validation split: the test set is scored once, here.
  if (!last_eval_ || has_validation(config_)) {
    stage("scoring the test set");
    last_eval_ = evaluate(model_, test, run_loss(config_), config_.test_batch_size, device_);
  }
  const Evaluation& last_test = *last_eval_;
  RunSummary summary;
  summary.test = last_test.metrics;
  if (train.labelled()) {
    stage("linear probe on the code and on the pixels");
    const CodeAndPixelProbes probes = probe_code_and_pixels(model_, train, test, last_test.codes,
                                                            config_.test_batch_size, device_);
    summary.probe = probes.code;
    summary.pixel_probe = probes.pixels;  // what the code's probe is read against
  } else {
    summary.probe = summary.pixel_probe = no_probe();  // no labels to probe for
  }
  // The last epoch's row; a run resumed only to finish has it from metrics.csv.
  summary.train_dead_units = history_.empty() ? dead_unit_count(cursor_, config_.dead_steps)
                                              : history_.back().train_dead_units;
  summary.seconds = stopwatch_.seconds();
  stage("pictures and report.html");
  write_run_report(dir_, model_, test, last_test, config_, device_, &summary);
  write_summary_json(path(kSummaryFile), summary);  // last: it marks the run finished
  return summary;
}

RunData split_run_data(const Dataset& train, const Dataset& test, const RunConfig& config) {
  const int64_t held_out = val_count(train.size(), config.val_fraction, config.val_size);
  std::string description = describe_split(config.data_dir, Split::kTrain, train);
  if (held_out == 0) return {train, std::nullopt, test, std::move(description)};
  TrainValSplit split = hold_out(train, held_out, config.seed);
  return {std::move(split.train), std::move(split.val), test, std::move(description)};
}

int train_to_end(Run& run, const RunData& data, ProgressStyle style) {
  const RunConfig& c = run.config();
  const int threads = torch::get_num_threads();
  spdlog::info("training on {} ({} train{} / {} test images), epochs {}..{}, {} thread{}",
               c.data_dir, data.train.size(),
               data.val ? fmt::format(" / {} validation", data.val->size()) : std::string(),
               data.test.size(), run.cursor().epoch + 1, c.epochs, threads,
               threads == 1 ? "" : "s");
  spdlog::info("data: {}", data.description);
  {
    const StopRequests stop;  // before the log line that tells a watcher training has begun
    spdlog::info("run folder {}", run.dir());
    int signal = 0;  // agreed by every rank of a data-parallel run at each check
    const auto should_stop = [&] { return (signal = run.agreed_stop_signal()) != 0; };
    while (!run.trained() && !should_stop()) {
      if (!run.train_epoch(data.train, style, should_stop)) break;
      const EpochMetrics& row = run.finish_epoch(data.per_epoch());
      log_epoch(row, c.epochs);
    }
    if (should_stop()) {  // also when it came during the last epoch: the report can wait
      run.save();
      if (!run.is_writer()) return kExitSignalBase + signal;  // rank 0 says where it saved
      const TrainCursor& at = run.cursor();
      spdlog::warn("interrupted {}; checkpoint saved in {}",
                   at.batches > 0
                       ? fmt::format("in epoch {} after batch {}", at.epoch + 1, at.batches)
                       : fmt::format("after epoch {}", at.epoch),
                   run.dir());
      spdlog::warn("continue with: sae train --resume {}", run.dir());
      return kExitSignalBase + signal;
    }
  }
  if (!run.is_writer()) return 0;  // rank 0 writes the report
  // From here a Ctrl-C ends the process at once: the pictures, probe and summary are each written
  // atomically, and a resume writes them again.
  RunSummary summary;
  {
    StatusLine status(style);
    summary = run.finish(data.train, data.test, &status);
  }
  spdlog::info("test: mse {:.5f}, explained variance {:.3f}, L0 {:.1f}, dead {}", summary.test.mse,
               summary.test.explained_variance, summary.test.mean_l0, summary.test.dead_units);
  if (data.train.labelled()) {
    spdlog::info("linear probe: {:.2f}% test accuracy on the code, {:.2f}% on the raw pixels",
                 100 * summary.probe.test_accuracy, 100 * summary.pixel_probe.test_accuracy);
  }
  if (const std::string warning = explained_variance_warning(summary.test.explained_variance, c);
      !warning.empty()) {
    spdlog::warn("test set: {}", warning);
  }
  spdlog::info("done in {}: {}/{}; evaluate it with `sae eval --checkpoint {}`",
               format_duration(summary.seconds), run.dir(), kModelFile, run.dir());
  return 0;
}

}  // namespace sae
