#include "sae/report/pages.hpp"

#include <fmt/format.h>
#include <kainjow/mustache.hpp>

#include "sae/analysis/inspect.hpp"
#include "sae/base/atomic_file.hpp"
#include "sae/data/image.hpp"
#include "sae/report/svg.hpp"
#include "sae/report/templates.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/store/sweep_folder.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;
using kainjow::mustache::data;
using kainjow::mustache::mustache;

constexpr int kTopImages = 8;       // per unit card
constexpr int kHistogramBins = 20;  // over [0, histogram_top]
constexpr int kAtomScale = 3;
/// The sweep's probe view, beside sweep.png, when the sweep drew one.
constexpr const char* kSweepProbePlotFile = "sweep_probe.png";
// The per-epoch charts' colours.
constexpr const char* kEvaluationColor = "#4a6fa5";
constexpr const char* kTrainColor = "#d08a2c";

/// The folder's own name, also when given as "runs/a/" or ".".
std::string folder_name(const std::string& dir) {
  return fs::weakly_canonical(fs::absolute(dir)).filename().string();
}

std::string render(const char* text, const data& values) {
  mustache page{std::string(text)};
  if (!page.is_valid()) {
    throw std::logic_error("report template: " + page.error_message());  // a bug, not the user's
  }
  return page.render(values);
}

/// `value` when there is one, else false: what a mustache section shows or skips.
data optional_text(const std::string& value) {
  return value.empty() ? data(false) : data(value);
}

/// The metrics table's row (for_each_metric) of the field `field`: its label and format, which
/// the page takes from there rather than spelling them again.
template <typename T>
MetricSpec spec_of(T EvalMetrics::*field) {
  const EvalMetrics m{};
  const void* address = &(m.*field);
  std::optional<MetricSpec> found;
  for_each_metric(m, [&](const MetricSpec& spec, const auto& value) {
    if (static_cast<const void*>(&value) == address) found = spec;
  });
  TORCH_CHECK(found.has_value(), "spec_of: a field outside the metrics table");
  return *found;
}

/// The top of every card's histogram: 1 for a sigmoid code, whose activations lie in (0, 1);
/// the largest activation of any unit for the others, which relu makes unbounded.
double histogram_top(const Code& code, const torch::Tensor& codes) {
  if (code.kind() == CodeKind::kSigmoid || codes.numel() == 0) return 1.0;
  const double largest = codes.max().item<double>();
  return std::isfinite(largest) && largest > 0 ? largest : 1.0;
}

/// The counts of `codes` (N) in kHistogramBins bins over [0, top].
std::vector<double> histogram_counts(const torch::Tensor& codes, double top_value) {
  const auto counts = torch::histc(codes.to(torch::kCPU, torch::kFloat32), kHistogramBins, 0.0,
                                   top_value)
                          .to(torch::kFloat64)
                          .contiguous();  // (kHistogramBins)
  const double* first = counts.data_ptr<double>();
  return {first, first + counts.numel()};
}

/// The metrics the report shows, a line each, as `sae eval` prints them.
data metric_rows(const EvalMetrics& m, const MetricContext& context) {
  data rows{data::type::list};
  for_each_metric(m, [&](const MetricSpec& spec, const auto& value) {
    if (!(spec.shown & kInReport)) return;
    data row;
    row.set("key", std::string(spec.label));
    row.set("value", format_metric(spec, value, context));
    rows << row;
  });
  return rows;
}

/// `summary`, or when null DIR/summary.json if the run has finished; none when neither is there.
std::optional<RunSummary> run_summary(const std::string& dir, const RunSummary* summary) {
  if (summary) return *summary;
  const fs::path path = fs::path(dir) / kSummaryFile;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  try {
    return read_summary_json(path.string());
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged summary leaves the page without the probe, not without it all
  }
}

/// The probe's section: the code's test accuracy (and train) beside the raw pixels'; false when
/// the summary has no probe.
data probe_section(const std::optional<RunSummary>& summary) {
  if (!summary || !std::isfinite(summary->probe.test_accuracy)) return data(false);
  const ProbeResult& code = summary->probe;
  const ProbeResult& pixels = summary->pixel_probe;
  data probe;
  probe.set("code_units", std::to_string(kCodeSize));
  probe.set("code", fmt::format("{:.2f}%", 100 * code.test_accuracy));
  probe.set("code_train", std::isfinite(code.train_accuracy)
                              ? data(fmt::format("{:.2f}%", 100 * code.train_accuracy))
                              : data(false));
  if (std::isfinite(pixels.test_accuracy)) {  // summaries written before it lack it
    probe.set("pixels", fmt::format("{:.2f}%", 100 * pixels.test_accuracy));
    const double points = 100 * (code.test_accuracy - pixels.test_accuracy);
    probe.set("comparison", std::abs(points) < 0.005
                                ? std::string("the same")
                                : fmt::format("{:.2f} points {}", std::abs(points),
                                              points < 0 ? "lower" : "higher"));
  } else {
    probe.set("pixels", false);
  }
  return probe;
}

/// "12.3 s", "4 min 05 s", "2 h 07 min".
std::string duration_text(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto whole = static_cast<int64_t>(std::llround(seconds));
  if (whole < 3600) return fmt::format("{} min {:02} s", whole / 60, whole % 60);
  return fmt::format("{} h {:02} min", whole / 3600, whole % 3600 / 60);
}

/// How long the run took (summary.json's seconds: this process, from its start to the probe)
/// and its epochs (metrics.csv: every epoch, those of an earlier process too); "" when neither
/// says.
std::string time_text(const std::optional<RunSummary>& summary,
                      const std::vector<EpochMetrics>& rows) {
  double total = 0, fastest = INFINITY, slowest = 0, rate = 0;
  for (const EpochMetrics& row : rows) {
    total += row.seconds;
    fastest = std::min(fastest, row.seconds);
    slowest = std::max(slowest, row.seconds);
    rate += row.images_per_s / static_cast<double>(rows.size());
  }
  std::string epochs;  // "10 epochs of training and evaluation took 12.0 s (...)"
  if (!rows.empty()) {
    std::string detail = fmt::format("about {:.0f} training images/s", rate);
    if (rows.size() > 1) {
      detail =
          fmt::format("{} to {} each; ", duration_text(fastest), duration_text(slowest)) + detail;
    }
    epochs = fmt::format("{} epoch{} of training and evaluation took {} ({})", rows.size(),
                         rows.size() == 1 ? "" : "s", duration_text(total), detail);
  }
  const bool timed = summary && std::isfinite(summary->seconds) && summary->seconds > 0;
  if (!timed) return epochs.empty() ? "" : "Time: " + epochs + ".";
  const std::string run = duration_text(summary->seconds);
  if (epochs.empty()) return "Time: the run took " + run + ".";
  if (total <= summary->seconds) return fmt::format("Time: the run took {}; {}.", run, epochs);
  // Resumed: this process's time leaves out the epochs that an earlier one trained.
  return fmt::format("Time: {}, over every start of the run; its last start took {}.", epochs, run);
}

/// DIR/metrics.csv's rows; none, with `problem` saying why, when it is missing or unreadable.
std::vector<EpochMetrics> epoch_rows(const std::string& dir, std::string& problem) {
  const fs::path path = fs::path(dir) / kMetricsFile;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    problem = std::string("No ") + kMetricsFile + " in this run folder.";
    return {};
  }
  try {
    return read_metrics_csv(path.string());
  } catch (const std::exception& e) {
    problem = e.what();  // a damaged file leaves the page without the curves, not without it all
    return {};
  }
}

/// One evaluation metric of every row, as doubles.
template <typename T>
std::vector<double> column(const std::vector<EpochMetrics>& rows, T EvalMetrics::*field) {
  std::vector<double> values;
  for (const EpochMetrics& row : rows) values.push_back(static_cast<double>(row.test.*field));
  return values;
}

/// The per-epoch charts, an <svg> each: mean L0, mean rho_hat (and the target, for a KL
/// penalty), dead units (the evaluation's and training's) and explained variance (and 0, the
/// mean image's).
data epoch_charts(const std::vector<EpochMetrics>& rows, const RunConfig& config,
                  const std::string& evaluated_on) {
  std::vector<int64_t> epochs;
  std::vector<double> train_dead;
  bool train_dead_recorded = false;  // metrics.csv files before it lack the column
  for (const EpochMetrics& row : rows) {
    epochs.push_back(row.epoch);
    train_dead.push_back(row.train_dead_units >= 0 ? static_cast<double>(row.train_dead_units)
                                                   : std::numeric_limits<double>::quiet_NaN());
    train_dead_recorded |= row.train_dead_units >= 0;
  }
  const auto chart = [&](const MetricSpec& spec) {
    LineChart c;
    c.title = spec.label;
    c.x = epochs;
    return c;
  };
  std::vector<LineChart> charts;

  LineChart l0 = chart(spec_of(&EvalMetrics::mean_l0));
  l0.series.push_back({"", column(rows, &EvalMetrics::mean_l0), kEvaluationColor});
  l0.from_zero = true;
  charts.push_back(l0);

  LineChart rho_hat = chart(spec_of(&EvalMetrics::mean_rho_hat));
  rho_hat.series.push_back({"", column(rows, &EvalMetrics::mean_rho_hat), kEvaluationColor});
  rho_hat.from_zero = true;
  if (effective_penalty(config) == Penalty::kKl) {  // rho is a target only for KL
    rho_hat.reference = config.rho;
    rho_hat.reference_label = fmt::format("target ρ {}", config.rho);
  }
  charts.push_back(rho_hat);

  LineChart dead = chart(spec_of(&EvalMetrics::dead_units));
  dead.series.push_back({evaluated_on, column(rows, &EvalMetrics::dead_units), kEvaluationColor});
  if (train_dead_recorded) dead.series.push_back({"train", train_dead, kTrainColor});
  dead.integer_values = dead.from_zero = true;
  charts.push_back(dead);

  LineChart variance = chart(spec_of(&EvalMetrics::explained_variance));
  variance.series.push_back({"", column(rows, &EvalMetrics::explained_variance), kEvaluationColor});
  variance.reference = 0.0;
  variance.reference_label = "mean image";
  charts.push_back(variance);

  data list{data::type::list};
  for (const LineChart& c : charts) {
    if (const std::string svg = line_chart_svg(c); !svg.empty()) {
      data item;
      item.set("svg", svg);
      list << item;
    }
  }
  return list;
}

}  // namespace

std::string explained_variance_warning(double explained_variance, const RunConfig& config) {
  if (!(explained_variance <= 0)) return "";  // NaN too: nothing to warn about
  const MetricSpec spec = spec_of(&EvalMetrics::explained_variance);
  std::string fix;
  switch (config.code) {
    case CodeKind::kSigmoid:
    case CodeKind::kRelu:
      if (effective_penalty(config) != Penalty::kNone) {
        fix = fmt::format("a smaller --beta (now {}) or ", config.beta);
      }
      break;
    case CodeKind::kTopK:
    case CodeKind::kBatchTopK:
      fix = fmt::format("a larger --k (now {}) or ", config.k);
      break;
    case CodeKind::kJumpRelu:
      fix = fmt::format("a smaller --l0-coef (now {}) or ", config.l0_coef);
      break;
  }
  return fmt::format(
      "The {} is {} (≤ 0): the reconstructions are no closer to the test images than their mean "
      "image is, so the model outputs about the mean image whatever it is shown. Train with {}"
      "more --epochs (now {}).",
      spec.label, format_metric(spec, explained_variance, metric_context(config)), fix,
      config.epochs);
}

void write_run_report(const std::string& dir, SparseAutoencoder& model, const Dataset& test,
                      const Evaluation& evaluation, const RunConfig& config,
                      const torch::Device& device, const RunSummary* summary) {
  const fs::path assets = fs::path(dir) / kReportAssetsDir;
  make_real_folder(assets.string());  // a symlink there must not carry the pictures out of DIR
  const auto asset = [&](const std::string& name) {
    return std::make_pair((assets / name).string(), std::string(kReportAssetsDir) + "/" + name);
  };

  // The pictures `sae inspect` draws, reconstructions.png among them, which the page shows; the
  // atoms are drawn once for both.
  const std::vector<GrayImage> atoms = atom_tiles(model, evaluation.codes, device);
  write_pictures(dir, model, test, evaluation, config, device, atoms);

  const EvalMetrics& m = evaluation.metrics;
  const torch::Tensor& codes = evaluation.codes;  // (N, 64)
  const Code& code = model->code_kind();
  const bool sigmoid = code.kind() == CodeKind::kSigmoid;  // KL against rho means something
  const double top_value = histogram_top(code, codes);
  const int64_t k = std::min<int64_t>(kTopImages, codes.size(0));
  const auto top = std::get<1>(codes.topk(k, /*dim=*/0));  // (k, 64)
  const auto active =
      codes.gt(code.active_threshold()).to(torch::kFloat64).mean(/*dim=*/0);  // (64)
  data units{data::type::list};
  for (int64_t j = 0; j < kCodeSize; ++j) {
    const auto [atom_path, atom_src] = asset(unit_atom_file_name(j));
    write_png(atom_path, tile_grid({atoms[j]}, 1, /*padding=*/0, kAtomScale));
    std::vector<GrayImage> tiles;
    for (int64_t i = 0; i < k; ++i)
      tiles.push_back(to_gray_image(test.images[top[i][j].item<int64_t>()]));
    const auto [top_path, top_src] = asset(unit_top_file_name(j));
    write_png(top_path, tile_grid(tiles, static_cast<int>(k), /*padding=*/1, /*scale=*/1));

    data unit;
    unit.set("index", std::to_string(j));
    unit.set("atom", atom_src);
    unit.set("top", top_src);
    unit.set("histogram", histogram_svg(histogram_counts(codes.select(1, j), top_value), 0.0,
                                        top_value, "activation"));
    unit.set("rho", fmt::format("{:.9g}", m.rho_hat[j]));
    unit.set("kl", fmt::format("{:.9g}", m.unit_kl[j]));
    unit.set("active", fmt::format("{:.9g}", active[j].item<double>()));
    unit.set("rho_text", fmt::format("{:.4f}", m.rho_hat[j]));
    unit.set("kl_text", fmt::format("{:.4f}", m.unit_kl[j]));
    unit.set("max_text", fmt::format("{:.3f}", m.max_activation[j]));
    unit.set("active_text", fmt::format("{:.1f}%", 100 * active[j].item<double>()));
    units << unit;
  }

  const std::optional<RunSummary> finished = run_summary(dir, summary);
  std::string metrics_problem;
  const std::vector<EpochMetrics> rows = epoch_rows(dir, metrics_problem);
  const bool on_validation = !rows.empty() && rows.back().on_validation;

  data page;
  page.set("name", folder_name(dir));
  page.set("summary", fmt::format("{} test images; {}; {} epochs.", m.images, code_settings(config),
                                  config.epochs));
  page.set("time", optional_text(time_text(finished, rows)));
  page.set("warning", optional_text(explained_variance_warning(m.explained_variance, config)));
  page.set("probe", probe_section(finished));
  page.set("config", to_toml(config));
  page.set("metrics", metric_rows(m, metric_context(config)));
  if (fs::exists(fs::path(dir) / kLossPlotFile)) {
    page.set("loss_png", std::string(kLossPlotFile));
  } else {
    page.set("loss_png", false);
  }
  page.set("has_charts", !rows.empty());
  if (rows.empty()) {
    page.set("charts", false);
    page.set("charts_missing",
             metrics_problem.empty() ? std::string("metrics.csv has no epochs.") : metrics_problem);
  } else {
    page.set("charts", epoch_charts(rows, config, on_validation ? "validation" : "test"));
    page.set("charts_missing", false);
  }
  page.set("evaluated_on", std::string(on_validation ? "the validation split" : "the test set"));
  page.set("dead_steps", std::to_string(config.dead_steps));
  page.set("reconstructions_png", std::string(kReconstructionsFile));
  page.set("top_count", std::to_string(k));
  page.set("rho", fmt::format("{}", config.rho));
  page.set("sigmoid", sigmoid);
  page.set("threshold", fmt::format("{}", code.active_threshold()));
  page.set("histogram_top", fmt::format("{:.3g}", top_value));
  page.set("units", units);
  write_file_atomically((fs::path(dir) / kReportFile).string(),
                        render(templates::kRunReport, page));
}

void write_sweep_report(const std::string& dir) {
  const SweepTable table = read_sweep_table(dir);
  data columns{data::type::list};
  for (size_t i = 0; i < table.columns.size(); ++i) {
    data column;
    column.set("index", std::to_string(i));
    column.set("name", table.columns[i]);
    columns << column;
  }
  data rows{data::type::list};
  for (const SweepTable::Row& r : table.rows) {
    data cells{data::type::list};
    for (const std::string& text : r.cells) {
      data cell;
      cell.set("value", text);
      cell.set("text", text);
      cells << cell;
    }
    const std::string& run = r.name;  // built from the row's settings, never its text
    data row;
    row.set("cells", cells);
    row.set("run", run);
    row.set("report", run + "/" + kReportFile);
    rows << row;
  }
  data page;
  page.set("name", folder_name(dir));
  page.set("count", std::to_string(table.rows.size()));
  page.set("sweep_png", std::string(kSweepPlotFile));
  std::error_code ec;  // drawn by the sweep's pictures when it has probes to show
  page.set("probe_png", fs::is_regular_file(fs::path(dir) / kSweepProbePlotFile, ec)
                            ? data(std::string(kSweepProbePlotFile))
                            : data(false));
  page.set("columns", columns);
  page.set("rows", rows);
  write_file_atomically((fs::path(dir) / kSweepReportFile).string(),
                        render(templates::kSweepReport, page));
}

}  // namespace sae
