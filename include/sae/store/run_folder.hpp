#pragma once
// A run folder: its lock, and the files beside the checkpoint
// (metrics.csv, steps.csv, summary.json).

#include "sae/store/file_names.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/probe.hpp"
#include "sae/train/train.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sae {

/// An exclusive lock (flock) on a run folder's lock file, held while alive. A second process that
/// wants it gets a std::runtime_error naming the process that holds it.
class RunLock {
 public:
  /// Takes the lock on `run_dir`, or throws naming the process that holds it.
  explicit RunLock(const std::string& run_dir);
  /// Releases the lock.
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&&) = delete;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

/// Creates a new folder runs/<date-time> (with -2, -3, ... when that name is taken), atomically.
std::string claim_default_run_dir();

/// The run's files in the existing folder `dir`, after refusing (UsageError) a folder that holds
/// files unless `force`, and one that holds no run's files even with it. Reads only: called
/// before the lock too, so that nothing is written into a folder that is refused.
std::vector<std::filesystem::path> check_new_run_dir(const std::string& dir, bool force);
/// Readies the existing, locked folder `dir` for a new run: check_new_run_dir again, then
/// `force` removes the run's files (and only those).
void prepare_new_run_dir(const std::string& dir, bool force);

/// One row of metrics.csv: one epoch. A column that a file written before it lacks reads as NaN,
/// or as the field's default for a count.
struct EpochMetrics {
  int64_t epoch = 0;
  double train_loss = 0, train_mse = 0, train_kl = 0;  ///< image-weighted means over the epoch
  /// Units that fired on no training image in the last --dead-steps steps, at the epoch's end;
  /// -1: not recorded (files before it).
  int64_t train_dead_units = -1;
  EvalMetrics test;  ///< over the test set, as `sae eval` (scalars only), or the validation split
  bool on_validation = false;  ///< `test` is the validation split's (columns val_*, not test_*)
  double seconds = 0;          ///< the epoch, evaluation included
  double images_per_s = 0;     ///< training images per second
};

/// Writes metrics.csv (header and one row per epoch) atomically; with `validation` the per-epoch
/// evaluation's columns are named val_*, not test_*.
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows,
                       bool validation = false);
/// Reads a metrics.csv written by write_metrics_csv; throws std::runtime_error naming the line.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);

/// Appends `row` to steps.csv at `path` (its header first when the file is new).
void append_steps_csv(const std::string& path, const StepRecord& row);
/// Reads steps.csv; a last line without its newline (cut short by a kill) is left out. Throws
/// std::runtime_error naming the line.
std::vector<StepRecord> read_steps_csv(const std::string& path);
/// Keeps the rows of steps.csv up to step `last_step` (a resume's checkpoint), atomically: the
/// steps after it are trained, and logged, again.
void trim_steps_csv(const std::string& path, int64_t last_step);

/// Records in run folder `dir` the torchrun launch (its TORCHELASTIC_RUN_ID) that created it, so
/// that the launch's restarted workers know the folder for theirs.
void write_launch_record(const std::string& dir, const std::string& run_id);
/// The torchrun run id recorded in `dir` (launch.json); nullopt when none is, or it is unreadable.
std::optional<std::string> read_launch_record(const std::string& dir);

/// What a finished run reached, for `sae sweep`.
struct RunSummary {
  EvalMetrics test;
  ProbeResult probe;              ///< on the code
  ProbeResult pixel_probe;        ///< the same probe on the raw pixels: the baseline
  int64_t train_dead_units = -1;  ///< the last epoch's (EpochMetrics); -1: not recorded
  double seconds = 0.0;           ///< the whole run
};
/// Calls `visit(key, field, csv_format, in_sweep_csv)` for each field of a summary beside its test
/// metrics, in sweep.csv's order: the key in summary.json, and the column in sweep.csv.
template <typename Summary, typename Visit>
void for_each_summary_field(Summary& s, Visit&& visit) {
  visit("probe_accuracy", s.probe.test_accuracy, "{:.6f}", true);
  visit("probe_train_accuracy", s.probe.train_accuracy, "{:.6f}", false);
  // The same for every run of a sweep on one data set: summary.json only.
  visit("pixel_probe_accuracy", s.pixel_probe.test_accuracy, "{:.6f}", false);
  visit("pixel_probe_train_accuracy", s.pixel_probe.train_accuracy, "{:.6f}", false);
  visit("train_dead_units", s.train_dead_units, "{}", true);
  visit("seconds", s.seconds, "{:.3f}", true);
}
/// Writes summary.json: the final test metrics, the linear probes and the run's duration.
void write_summary_json(const std::string& path, const RunSummary& summary);
/// Reads summary.json back, every field; a field a file written before it lacks reads as NaN, or
/// as its default for a count. Throws std::runtime_error naming the file.
RunSummary read_summary_json(const std::string& path);

}  // namespace sae
