#include "sae/store/sweep_folder.hpp"

#include <fmt/format.h>

#include "sae/base/atomic_file.hpp"
#include "sae/base/errors.hpp"
#include "sae/plot/charts.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr double kL0Floor = 1e-3;
constexpr size_t kQuotedChars = 60;  // of a bad cell or line, in an error message

/// Sorted, without repeats: 0.001 and 1e-3 are one grid value.
std::vector<double> distinct(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

/// `text` in quotes for a one-line message: a control byte (a '\r' rewrites the terminal's line)
/// shows as \xNN, and a long text is cut.
std::string printable_quoted(std::string_view text) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kQuotedChars; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    out += byte < 0x20 || byte == 0x7f ? fmt::format("\\x{:02x}", static_cast<unsigned>(byte))
                                       : std::string(1, text[i]);
  }
  return out + (text.size() > kQuotedChars ? "'..." : "'");
}

/// The cells of one line of sweep.csv, a trailing empty one included: sae sweep writes only
/// numbers, so there is no quoting to undo.
std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  for (size_t comma = line.find(','); comma != std::string::npos;
       start = comma + 1, comma = line.find(',', start)) {
    cells.push_back(line.substr(start, comma - start));
  }
  cells.push_back(line.substr(start));
  return cells;
}

/// The whole of `cell` as a finite number, else nullopt. from_chars, not strtod: no leading
/// blanks, no hex, no locale, and nothing may follow the number.
std::optional<double> finite_number(const std::string& cell) {
  double value = 0.0;
  const char* end = cell.data() + cell.size();
  const auto [stop, error] = std::from_chars(cell.data(), end, value);
  if (error != std::errc() || stop != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

/// Calls `visit(column, value, csv_format)` for each column of sweep.csv after beta and rho.
template <typename Visit>
void for_each_result_column(const RunSummary& summary, Visit&& visit) {
  for_each_metric(summary.test, [&](const MetricSpec& spec, const auto& value) {
    if (spec.sweep_column) visit(spec.sweep_column, value, spec.csv_format);
  });
  for_each_summary_field(
      summary, [&](const char* key, const auto& value, const char* format, bool in_sweep_csv) {
        if (in_sweep_csv) visit(key, value, format);
      });
}

}  // namespace

std::vector<SweepPoint> sweep_grid(const RunConfig& base, std::vector<double> betas,
                                   std::vector<double> rhos) {
  if (betas.empty() || rhos.empty()) {
    throw UsageError("sweep needs at least one --beta and one --rho value");
  }
  std::vector<SweepPoint> grid;
  for (const double beta : distinct(std::move(betas))) {
    for (const double rho : distinct(rhos)) {
      RunConfig config = base;
      config.beta = beta;
      config.rho = rho;
      validate(config);
      grid.push_back({config, sweep_point_name(beta, rho)});
    }
  }
  return grid;
}

void write_sweep_results(const std::string& dir, const std::vector<SweepRow>& rows) {
  std::string csv = "beta,rho";
  for_each_result_column(RunSummary(), [&](const char* column, const auto&, const char*) {
    csv += fmt::format(",{}", column);
  });
  csv += '\n';
  std::vector<LabelledPoint> points;
  for (const auto& r : rows) {
    csv += fmt::format("{},{}", r.beta, r.rho);
    for_each_result_column(r.summary, [&](const char*, const auto& value, const char* format) {
      csv += ',' + fmt::format(fmt::runtime(format), value);
    });
    csv += '\n';
    const auto& t = r.summary.test;
    points.push_back({t.mean_l0, t.mse, fmt::format("b={} r={}", r.beta, r.rho)});
  }
  write_file_atomically((fs::path(dir) / kSweepCsvFile).string(), csv);
  // L0 spans decades across a grid (1e-3 for a very sparse code, 64 for a saturated one): a log
  // axis keeps the points apart; an L0 below kL0Floor is drawn at it.
  const PlotSpec spec{
      "Sparsity against reconstruction, one point per (beta, rho)",
      {fmt::format("mean L0 (code units above 0.5 per test image; below {} drawn at {})", kL0Floor,
                   kL0Floor),
       Scale::kLog10, kL0Floor},
      {"test MSE"}};
  plot_labelled_points((fs::path(dir) / kSweepPlotFile).string(), spec, points);
}

SweepTable read_sweep_table(const std::string& dir) {
  const std::string path = (fs::path(dir) / kSweepCsvFile).string();
  const char* fix = "run the same sae sweep again to write it anew (finished runs are skipped)";
  std::istringstream in(read_file(path));
  std::string line;
  const auto next_line = [&] {
    if (!std::getline(in, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // saved by a Windows editor
    return true;
  };
  SweepTable table;
  if (next_line()) table.columns = split_cells(line);
  if (table.columns.size() < 2 || table.columns[0] != "beta" || table.columns[1] != "rho") {
    throw std::runtime_error(
        fmt::format("{}: line 1: expected a header starting 'beta,rho,', as sae sweep writes it, "
                    "found {}; {}",
                    path, printable_quoted(line), fix));
  }
  for (int number = 2; next_line(); ++number) {
    if (line.empty()) continue;
    SweepTable::Row row;
    row.line = number;
    row.cells = split_cells(line);
    if (row.cells.size() != table.columns.size()) {
      throw std::runtime_error(fmt::format(
          "{}: line {}: expected {} comma-separated cells, one per column of the "
          "header, found {}: {}; {}",
          path, number, table.columns.size(), row.cells.size(), printable_quoted(line), fix));
    }
    // The grid point's folder name is rebuilt from these numbers, never taken from the text: a
    // cell such as "/../../x" must not become a path.
    const auto number_at = [&](size_t column) {
      const std::optional<double> value = finite_number(row.cells[column]);
      if (!value) {
        throw std::runtime_error(
            fmt::format("{}: line {}: expected a finite number for {}, found {}; {}", path, number,
                        table.columns[column], printable_quoted(row.cells[column]), fix));
      }
      return *value;
    };
    row.beta = number_at(0);
    row.rho = number_at(1);
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace sae
