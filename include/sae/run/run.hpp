#pragma once
// A training run and the folder it owns: opened fresh or resumed, trained epoch by epoch,
// committed, reported. `sae train` and `sae sweep` drive it.

#include <torch/torch.h>

#include "sae/base/interrupt.hpp"
#include "sae/base/progress.hpp"
#include "sae/base/stopwatch.hpp"
#include "sae/data/dataset.hpp"
#include "sae/model/model.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/train/distributed.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/run_config.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sae {

/// Refuses (UsageError) a --resume folder that is missing or has no config.toml, before any
/// data is loaded.
void check_resumable_folder(const std::string& dir);

/// A run folder opened for writing: locked for its whole life, with the model, the optimizer and
/// the cursor that its checkpoint commits.
class Run {
 public:
  /// Starts a new run in `dir` (empty: a new runs/<date-time>): locks it, refuses a folder that
  /// holds a run unless `force`, writes config.toml and draws the initial weights from --seed.
  /// In a data-parallel `group`, rank 0 alone touches the folder; the other ranks train alike.
  /// A `launch_id` (torchrun's run id) is recorded first, for the launch's restarted workers.
  static std::unique_ptr<Run> create(const RunConfig& config, std::string dir, bool force,
                                     const torch::Device& device,
                                     const ProcessGroup& group = ProcessGroup(),
                                     const std::string& launch_id = "");
  /// Continues the run in `dir` from its last committed checkpoint with `config` (config.toml
  /// under the flags), or from scratch when it never committed one. Refuses another seed, data
  /// folder or batch size in the middle of an epoch, and a run that has finished its epochs.
  static std::unique_ptr<Run> resume(const std::string& dir, const RunConfig& config,
                                     const torch::Device& device,
                                     const ProcessGroup& group = ProcessGroup());

  /// The run folder.
  const std::string& dir() const { return dir_; }
  /// The settings it trains with.
  const RunConfig& config() const { return config_; }
  /// How far training got.
  const TrainCursor& cursor() const { return cursor_; }
  /// True once every epoch of the config is trained.
  bool trained() const { return cursor_.epoch >= config_.epochs; }
  /// False on the ranks of a data-parallel run other than 0: they write nothing.
  bool is_writer() const { return group_.is_writer(); }
  /// The signal that stops this run: this process's, or in a data-parallel run the first rank's
  /// that received one (agreed by all ranks, so all stop after the same batch); 0 for none.
  int agreed_stop_signal() const;

  /// Trains the next epoch, or what is left of an interrupted one; false when `should_stop` ended
  /// it early (the state is then uncommitted until save()).
  bool train_epoch(const Dataset& train, ProgressStyle style,
                   const std::function<bool()>& should_stop);
  /// After a complete epoch: evaluates on `scored` (the validation split, or the test set), then
  /// writes metrics.csv, commits a checkpoint and redraws loss.png. Throws NonFiniteLoss,
  /// committing nothing, if the weights went bad.
  const EpochMetrics& finish_epoch(const Dataset& scored);
  /// Commits the current state as a checkpoint (after an interruption).
  void save();
  /// The end of a run: the test set's score (once, when the epochs were scored on a validation
  /// split), the linear probes (on the code, and on the raw pixels as the baseline), the pictures
  /// and report.html (each picture drawn once) and, last, summary.json, which marks the run
  /// finished. `status`, when given, names each stage as it starts.
  RunSummary finish(const Dataset& train, const Dataset& test, StatusLine* status = nullptr);

  Run(std::string dir, std::optional<RunLock> lock, const RunConfig& config,
      const torch::Device& device, const ProcessGroup& group);

 private:
  std::string path(const char* file) const;
  /// What to tell a user whose run went non-finite: smaller steps, and what is kept.
  std::string advice_after_non_finite() const;

  std::string dir_;
  std::optional<RunLock> lock_;  // rank 0's, or the lone process's
  ProcessGroup group_;
  RunConfig config_;
  torch::Device device_;
  SparseAutoencoder model_;
  torch::optim::Adam optimizer_;
  TrainCursor cursor_;
  std::vector<EpochMetrics> history_;    // metrics.csv's rows
  std::optional<Evaluation> last_eval_;  // of the last epoch trained in this process
  double epoch_seconds_ = 0.0;           // wall time of the epoch in progress, this process
  Stopwatch stopwatch_;                  // the whole run, in this process
};

/// The data a run trains on and is scored on, as Lightning's fit/validate/test keep them apart.
struct RunData {
  Dataset train;               ///< trained on: the training split less the validation images
  std::optional<Dataset> val;  ///< --val-fraction/--val-size: scored after each epoch
  Dataset test;                ///< scored after each epoch when there is no validation split,
                               ///< and once at the end
  std::string description;     ///< which form the data folder holds, and its training split
  /// What each epoch is scored on.
  const Dataset& per_epoch() const { return val ? *val : test; }
};
/// Holds out `config`'s validation images (a seeded slice) from `train`.
RunData split_run_data(const Dataset& train, const Dataset& test, const RunConfig& config);

/// Trains the run's remaining epochs, logging each, then writes its report. On SIGINT/SIGTERM it
/// finishes the batch, commits and returns 128 + the signal; otherwise returns 0.
int train_to_end(Run& run, const RunData& data, ProgressStyle style);

}  // namespace sae
