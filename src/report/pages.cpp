#include "sae/report/pages.hpp"

#include <fmt/format.h>
#include <kainjow/mustache.hpp>

#include "sae/analysis/inspect.hpp"
#include "sae/base/atomic_file.hpp"
#include "sae/data/image.hpp"
#include "sae/report/templates.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/store/sweep_folder.hpp"

#include <cmath>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;
using kainjow::mustache::data;
using kainjow::mustache::mustache;

constexpr int kTopImages = 8;       // per unit card
constexpr int kHistogramBins = 20;  // over [0, histogram_top]
constexpr int kHistogramWidth = 240, kHistogramHeight = 36;
constexpr int kAtomScale = 3;

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

/// The top of every card's histogram: 1 for a sigmoid code, whose activations lie in (0, 1);
/// the largest activation of any unit for the others, which relu makes unbounded.
double histogram_top(const Code& code, const torch::Tensor& codes) {
  if (code.kind() == CodeKind::kSigmoid || codes.numel() == 0) return 1.0;
  const double largest = codes.max().item<double>();
  return std::isfinite(largest) && largest > 0 ? largest : 1.0;
}

/// An inline SVG bar chart of `codes` (N) over [0, top]: log(1 + count) per bin, so rare values
/// still show.
std::string histogram_svg(const torch::Tensor& codes, double top_value) {
  const auto counts = torch::histc(codes.to(torch::kFloat32), kHistogramBins, 0.0, top_value);
  const double top = std::log1p(counts.max().item<double>());
  const double bar = static_cast<double>(kHistogramWidth) / kHistogramBins;
  std::string svg = fmt::format(
      R"(<svg width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="activation histogram">)",
      kHistogramWidth, kHistogramHeight, kHistogramWidth, kHistogramHeight);
  svg += fmt::format(R"(<rect width="{}" height="{}" fill="#f4f4f4"/>)", kHistogramWidth,
                     kHistogramHeight);
  for (int b = 0; b < kHistogramBins; ++b) {
    const double h = top > 0 ? std::log1p(counts[b].item<double>()) / top * kHistogramHeight : 0;
    svg += fmt::format(
        R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="#4a6fa5"/>)",
        b * bar + 0.5, kHistogramHeight - h, bar - 1.0, h);
  }
  return svg + "</svg>";
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

/// The probes' line: the code's test accuracy beside the raw pixels', from `summary` or, when
/// null, from DIR/summary.json if the run has finished; "" when neither is there.
std::string probe_text(const std::string& dir, const RunSummary* summary) {
  std::optional<RunSummary> read;
  if (!summary) {
    const fs::path path = fs::path(dir) / kSummaryFile;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return "";
    try {
      read = read_summary_json(path.string());
    } catch (const std::exception&) {
      return "";  // a damaged summary leaves the page without the probe, not without the page
    }
    summary = &*read;
  }
  std::string text =
      fmt::format("{:.2f}% test accuracy on the code ({:.2f}% train)",
                  100 * summary->probe.test_accuracy, 100 * summary->probe.train_accuracy);
  if (std::isfinite(summary->pixel_probe.test_accuracy)) {
    text += fmt::format(", {:.2f}% on the raw pixels", 100 * summary->pixel_probe.test_accuracy);
  }
  return text;
}

}  // namespace

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
  const std::vector<GrayImage> atoms = atom_tiles(model, device);
  write_pictures(dir, model, test, evaluation, config.rho, device, atoms);

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
    unit.set("histogram", histogram_svg(codes.select(1, j), top_value));
    unit.set("rho", fmt::format("{:.9g}", m.rho_hat[j]));
    unit.set("kl", fmt::format("{:.9g}", m.unit_kl[j]));
    unit.set("active", fmt::format("{:.9g}", active[j].item<double>()));
    unit.set("rho_text", fmt::format("{:.4f}", m.rho_hat[j]));
    unit.set("kl_text", fmt::format("{:.4f}", m.unit_kl[j]));
    unit.set("max_text", fmt::format("{:.3f}", m.max_activation[j]));
    unit.set("active_text", fmt::format("{:.1f}%", 100 * active[j].item<double>()));
    units << unit;
  }

  data page;
  page.set("name", folder_name(dir));
  page.set("summary", fmt::format("{} test images; {}; {} epochs.", m.images, code_settings(config),
                                  config.epochs));
  page.set("config", to_toml(config));
  page.set("metrics", metric_rows(m, metric_context(config)));
  if (const std::string probe = probe_text(dir, summary); !probe.empty()) {
    page.set("probe", probe);
  } else {
    page.set("probe", false);
  }
  if (fs::exists(fs::path(dir) / kLossPlotFile)) {
    page.set("loss_png", std::string(kLossPlotFile));
  } else {
    page.set("loss_png", false);
  }
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
  page.set("columns", columns);
  page.set("rows", rows);
  write_file_atomically((fs::path(dir) / kSweepReportFile).string(),
                        render(templates::kSweepReport, page));
}

}  // namespace sae
