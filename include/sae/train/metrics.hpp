#pragma once
// The test-set metrics and the one table that names them for every output: `sae eval`'s table
// and --json, summary.json, metrics.csv, sweep.csv, the run report and the sweep index. A new
// metric is a field here, one row in for_each_metric, and its computation in eval.cpp.

#include <nlohmann/json.hpp>

#include "sae/train/run_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// A unit is far from its target when rho_hat_j > kFarFactor * rho.
constexpr double kFarFactor = 10.0;

/// Metrics over a whole dataset; none depends on the batch size. A unit is active on an image when
/// its activation is above its kind of code's active_threshold(): 0.5 for sigmoid, 0 otherwise.
struct EvalMetrics {
  int64_t images = 0;
  double loss = 0.0;                   // mse + beta * penalty (kl, l1 or 0)
  double mse = 0.0;                    // sum of squared errors / (N * 784)
  double kl = 0.0;                     // sum_j KL(rho || rho_hat_j), rho_hat over all N images
  double l1 = 0.0;                     // sum_j rho_hat_j = mean_i sum_j |h_ij|
  double psnr = 0.0;                   // 10 log10(1 / mse), in dB
  double explained_variance = 0.0;     // 1 - SSE / sum of squared deviations from the mean image
  double mean_rho_hat = 0.0;           // mean over units of rho_hat_j
  int64_t dead_units = 0;              // units never active on any image
  int64_t far_units = 0;               // units with rho_hat_j > kFarFactor * rho
  double mean_l0 = 0.0;                // mean number of active units per image
  double thresholded_mse = 0.0;        // the MSE of decoding codes with inactive units zeroed
  double fvu = 0.0;                    // mse / the mean image's mse (SSE / SST)
  double thresholded_fvu = 0.0;        // thresholded_mse / the mean image's mse
  std::vector<double> rho_hat;         // (64) mean activation of each unit
  std::vector<double> unit_kl;         // (64) KL(rho || rho_hat_j)
  std::vector<double> max_activation;  // (64) largest activation of each unit
  double seconds = 0.0;
  double images_per_s = 0.0;
};

/// Where a metric is shown besides --json and summary.json, which hold every one.
enum MetricShown : unsigned {
  kShownNowhere = 0,
  kInEvalTable = 1,  ///< a line of `sae eval`'s table
  kInReport = 2,     ///< a line of the run report's metrics
  kInBoth = kInEvalTable | kInReport,
};

/// How one scalar metric is named and printed.
struct MetricSpec {
  const char* key;           ///< in --json, summary.json's "test" and the report
  const char* label;         ///< on its line in `sae eval`'s table and the report
  const char* format;        ///< of the value on that line
  const char* note;          ///< after the value: {penalty} {rho} {units} {threshold} {code} {far}
  unsigned shown;            ///< MetricShown bits
  const char* epoch_column;  ///< its column in metrics.csv, or nullptr
  const char* sweep_column;  ///< its column in sweep.csv, or nullptr
  const char* csv_format;    ///< of the value in both CSV files
};

/// Calls `visit(spec, field)` for every scalar of `metrics`, in the order every output uses
/// (metrics.csv's and sweep.csv's columns included, so this order is part of their format).
template <typename Metrics, typename Visit>
void for_each_metric(Metrics& m, Visit&& visit) {
  constexpr const char* k8g = "{:.8g}";
  // clang-format off
  //     key                   label                 format    note, shown                                                         metrics.csv                sweep.csv          csv
  visit(MetricSpec{"images", "images", "{}", "", kInReport, nullptr, nullptr, "{}"}, m.images);
  visit(MetricSpec{"loss", "loss", "{:.6f}", "   (mse + the code's penalties, without AuxK)", kInBoth, "test_loss", nullptr, k8g}, m.loss);
  visit(MetricSpec{"mse", "mse", "{:.6f}", "", kInBoth, "test_mse", "test_mse", k8g}, m.mse);
  visit(MetricSpec{"kl", "kl", "{:.6f}", "", kInBoth, "test_kl", nullptr, k8g}, m.kl);
  visit(MetricSpec{"l1", "l1", "{:.4f}", "   (sum of rho_hat)", kInReport, nullptr, nullptr, k8g}, m.l1);
  visit(MetricSpec{"psnr", "psnr", "{:.2f}", " dB", kInBoth, nullptr, nullptr, k8g}, m.psnr);
  visit(MetricSpec{"explained_variance", "explained variance", "{:.4f}", "", kInBoth, "test_explained_variance", nullptr, k8g}, m.explained_variance);
  visit(MetricSpec{"mean_rho_hat", "mean rho_hat", "{:.5f}", "   (target rho {rho})", kInBoth, "test_mean_rho_hat", "mean_rho_hat", k8g}, m.mean_rho_hat);
  visit(MetricSpec{"dead_units", "dead units", "{}", " of {units}   (never active (> {threshold}) on any test image)", kInBoth, "test_dead_units", "dead_units", "{}"}, m.dead_units);
  visit(MetricSpec{"far_units", "far units", "{}", " of {units}   (rho_hat > {far} * rho)", kInBoth, "test_far_units", nullptr, "{}"}, m.far_units);
  visit(MetricSpec{"mean_l0", "mean L0", "{:.2f}", "   (units per image above {threshold}, active for {code} codes)", kInBoth, "test_l0", "mean_l0", k8g}, m.mean_l0);
  visit(MetricSpec{"thresholded_mse", "thresholded mse", "{:.6f}", "   (decoded with the inactive units (<= {threshold}) zeroed)", kInBoth, "test_thresholded_mse", "thresholded_mse", k8g}, m.thresholded_mse);
  visit(MetricSpec{"fvu", "fvu", "{:.4f}", "   (mse / the mean image's mse)", kInBoth, "test_fvu", "fvu", k8g}, m.fvu);
  visit(MetricSpec{"thresholded_fvu", "thresholded fvu", "{:.4f}", "   (thresholded mse / the mean image's mse)", kInBoth, "test_thresholded_fvu", "thresholded_fvu", k8g}, m.thresholded_fvu);
  visit(MetricSpec{"seconds", "seconds", "{:.2f}", "", kShownNowhere, nullptr, nullptr, "{:.3f}"}, m.seconds);
  visit(MetricSpec{"images_per_s", "images/s", "{:.0f}", "", kShownNowhere, nullptr, nullptr, "{:.1f}"}, m.images_per_s);
  // clang-format on
}

/// What a metric's note may refer to.
struct MetricContext {
  std::string penalty;           ///< "kl", "l1" or "none": what beta weighs
  double rho = 0.0;              ///< the target activation
  double threshold = 0.5;        ///< a unit is active above this: its code's active_threshold()
  std::string code = "sigmoid";  ///< the kind of code, as --code names it
};

/// The context of a run's metrics: its effective penalty, rho and kind of code.
MetricContext metric_context(const RunConfig& config);
/// The kind of code and the settings it trains with, as every output names them: "code topk,
/// k 8", "code sigmoid, penalty kl, beta 0.005, rho 0.01", "code jumprelu, lambda 0.001, ...".
std::string code_settings(const RunConfig& config);

/// A metric's value as its line shows it: the spec's format, then its note filled in.
std::string format_metric(const MetricSpec& spec, double value, const MetricContext& context);
std::string format_metric(const MetricSpec& spec, int64_t value, const MetricContext& context);

/// The metrics as JSON: every scalar under its key, and the per-unit lists.
nlohmann::json to_json(const EvalMetrics& metrics);
/// Reads what to_json wrote. A real-valued metric missing from a file written before it existed
/// reads as NaN; a missing count, or a value of the wrong type, throws nlohmann::json::exception.
void from_json(const nlohmann::json& json, EvalMetrics& metrics);

}  // namespace sae
