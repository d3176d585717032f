#pragma once
// The files of a run folder that are not the checkpoint: metrics.csv, loss.png, summary.json.

#include "sae/eval.hpp"
#include "sae/probe.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// One row of metrics.csv: one epoch.
struct EpochMetrics {
  int64_t epoch = 0;
  double train_loss = 0, train_mse = 0, train_kl = 0;  // image-weighted means over the epoch
  double test_loss = 0, test_mse = 0, test_kl = 0;     // over the whole test set, as `sae eval`
  double test_explained_variance = 0;
  double test_mean_rho_hat = 0;
  int64_t test_dead_units = 0;
  int64_t test_far_units = 0;
  double test_l0 = 0;       // mean units active per test image
  double seconds = 0;       // the epoch, evaluation included
  double images_per_s = 0;  // training images per second
};

/// Creates `dir`; refuses (std::invalid_argument) a folder that already holds files unless
/// `force`.
void prepare_run_dir(const std::string& dir, bool force);
/// Writes metrics.csv (header and one row per epoch) atomically.
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows);
/// Reads a metrics.csv written by write_metrics_csv; throws std::runtime_error naming the line.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);
/// What a finished run reached, for `sae sweep`.
struct RunSummary {
  EvalMetrics test;
  ProbeResult probe;
  double seconds = 0.0;  // the whole run
};
/// Writes summary.json: the final test metrics, the linear probe and the run's duration.
void write_summary_json(const std::string& path, const RunSummary& summary);
/// Reads summary.json back (only what sweeps need: the scalars); throws std::runtime_error.
RunSummary read_summary_json(const std::string& path);

/// Plots train and test loss per epoch to a PNG.
void plot_loss_curve(const std::string& path, const std::vector<EpochMetrics>& rows);

}  // namespace sae
