#include "sae/store/sweep_folder.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

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
#include <type_traits>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr size_t kQuotedChars = 60;  // of a bad cell or line, in an error message
constexpr const char* kCodeColumn = "code";
// The columns sae sweep wrote before --code: every row a sigmoid run.
constexpr const char* kLegacyColumns[] = {"beta", "rho"};
// Read for the names of the settings' columns only.
const RunConfig kDefaults;

/// Calls `visit(column, key, symbol, field)` for each setting of `config` that sae sweep takes a
/// list of, in sweep.csv's order after the code: its column there, its key in RunConfig's table
/// (for applies_to), and its symbol on the frontier's point labels. sweep_point_name
/// (file_names.cpp) names a point by the same settings.
template <typename Config, typename Visit>
void for_each_swept_setting(Config& config, Visit&& visit) {
  visit("beta", "beta", "β", config.beta);
  visit("rho", "rho", "ρ", config.rho);
  visit("k", "k", "k", config.k);
  visit("l0_coef", "l0-coef", "λ", config.l0_coef);
}

/// Sorted, without repeats: 0.001 and 1e-3 are one grid value.
template <typename T>
std::vector<T> distinct(std::vector<T> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

/// `base` for codes of kind `code`: the settings that do not apply to it at their defaults, so
/// that one sweep can hold kinds that read different settings.
RunConfig base_for_code(const RunConfig& base, CodeKind code) {
  RunConfig with_code = base;
  with_code.code = code;
  nlohmann::json settings = with_code;
  const nlohmann::json defaults = RunConfig();
  for (auto& [key, value] : settings.items()) {
    if (!applies_to(key, code)) value = defaults.at(key);
  }
  RunConfig config;
  from_json(settings, config);  // validates
  return config;
}

/// Each of `configs` once per value of `values`, in `field`, when the setting `key` applies to
/// `code` and the list was given; `configs` as they are otherwise.
template <typename T>
std::vector<RunConfig> vary(const std::vector<RunConfig>& configs, const char* key, CodeKind code,
                            const std::vector<T>& values, T RunConfig::*field) {
  if (values.empty() || !applies_to(key, code)) return configs;
  std::vector<RunConfig> varied;
  for (const RunConfig& config : configs) {
    for (const T value : distinct(values)) {
      varied.push_back(config);
      varied.back().*field = value;
    }
  }
  return varied;
}

/// "β=0.005 ρ=0.01", "k=8": a frontier point's label, from the swept settings of its code.
std::string point_label(const RunConfig& config) {
  std::vector<std::string> parts;
  for_each_swept_setting(config,
                         [&](const char*, const char* key, const char* symbol, const auto& value) {
                           if (applies_to(key, config.code))
                             parts.push_back(fmt::format("{}={}", symbol, value));
                         });
  return fmt::format("{}", fmt::join(parts, " "));
}

/// The frontier's curves: one per kind of code among `rows`, in --code's order. A run whose L0
/// is 0 (a log axis has no place for it, and no floor pretends otherwise) or that lacks a value
/// (a summary from before FVU) is left off, and its curve's legend entry says so.
std::vector<FrontierCurve> frontier_curves(const std::vector<SweepRow>& rows) {
  std::vector<FrontierCurve> curves;
  for (const Code* kind : code_kinds()) {
    FrontierCurve curve{kind->name(), {}};
    int runs = 0, no_fvu = 0, no_l0 = 0, zero_l0 = 0;
    for (const SweepRow& r : rows) {
      if (r.config.code != kind->kind()) continue;
      ++runs;
      const EvalMetrics& t = r.summary.test;
      if (!std::isfinite(t.thresholded_fvu)) {
        ++no_fvu;
      } else if (!std::isfinite(t.mean_l0)) {
        ++no_l0;
      } else if (t.mean_l0 <= 0) {
        ++zero_l0;
      } else {
        curve.points.push_back({t.mean_l0, t.thresholded_fvu, point_label(r.config)});
      }
    }
    if (runs == 0) continue;
    std::vector<std::string> left_off;
    if (zero_l0 > 0) left_off.push_back(fmt::format("{} with L0 = 0", zero_l0));
    if (no_fvu > 0) left_off.push_back(fmt::format("{} without an FVU", no_fvu));
    if (no_l0 > 0) left_off.push_back(fmt::format("{} without an L0", no_l0));
    if (!left_off.empty()) {
      curve.label += fmt::format(" ({} of {} runs not shown: {})", zero_l0 + no_fvu + no_l0, runs,
                                 fmt::join(left_off, ", "));
    }
    curves.push_back(std::move(curve));
  }
  return curves;
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

/// The whole of `cell` as an integer, else nullopt.
std::optional<int64_t> whole_integer(const std::string& cell) {
  int64_t value = 0;
  const char* end = cell.data() + cell.size();
  const auto [stop, error] = std::from_chars(cell.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

/// Calls `visit(column, value, csv_format)` for each column of sweep.csv after the settings.
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

std::string describe_point(const RunConfig& config) {
  std::string text = code_name(config.code);
  for_each_swept_setting(config, [&](const char*, const char* key, const char*, const auto& value) {
    if (applies_to(key, config.code)) text += fmt::format(", {} {}", key, value);
  });
  return text;
}

void check_applies_to_one_of(const std::string& key, const std::vector<CodeKind>& codes) {
  const auto reads = [&](CodeKind code) { return applies_to(key, code); };
  if (std::any_of(codes.begin(), codes.end(), reads)) return;
  std::vector<std::string> readers, given;  // in the table's order, each once
  for (const Code* kind : code_kinds()) {
    if (reads(kind->kind())) readers.push_back(kind->name());
    if (std::find(codes.begin(), codes.end(), kind->kind()) != codes.end()) {
      given.push_back(kind->name());
    }
  }
  throw UsageError(
      fmt::format("--{} applies to --code {}, not {}; add one of those to --code, or drop --{}",
                  key, fmt::join(readers, " and "), fmt::join(given, " or "), key));
}

std::vector<SweepPoint> sweep_grid(const RunConfig& base, const SweepLists& lists) {
  const std::vector<CodeKind> codes =
      lists.codes.empty() ? std::vector<CodeKind>{base.code} : distinct(lists.codes);
  // A list, or a setting, that no kind of the sweep reads would be dropped without a word.
  const std::pair<const char*, bool> listed[] = {{"beta", !lists.betas.empty()},
                                                 {"rho", !lists.rhos.empty()},
                                                 {"k", !lists.ks.empty()},
                                                 {"l0-coef", !lists.l0_coefs.empty()}};
  for (const auto& [key, given] : listed) {
    if (given) check_applies_to_one_of(key, codes);
  }
  const nlohmann::json settings = base;
  const nlohmann::json defaults = RunConfig();
  for (const auto& [key, value] : settings.items()) {
    if (value != defaults.at(key)) check_applies_to_one_of(key, codes);
  }

  std::vector<SweepPoint> grid;
  for (const CodeKind code : codes) {
    std::vector<RunConfig> configs = {base_for_code(base, code)};
    // Beta outermost and rho next, as sweeps before --code ordered (and sharded) their grids.
    configs = vary(configs, "beta", code, lists.betas, &RunConfig::beta);
    configs = vary(configs, "rho", code, lists.rhos, &RunConfig::rho);
    configs = vary(configs, "k", code, lists.ks, &RunConfig::k);
    configs = vary(configs, "l0-coef", code, lists.l0_coefs, &RunConfig::l0_coef);
    for (const RunConfig& config : configs) {
      validate(config);
      grid.push_back({config, sweep_point_name(config)});
    }
  }
  if (grid.empty()) throw UsageError("sweep: the grid is empty; give --code and its settings");
  return grid;
}

void write_sweep_results(const std::string& dir, const std::vector<SweepRow>& rows) {
  std::string csv = kCodeColumn;
  for_each_swept_setting(kDefaults, [&](const char* column, const char*, const char*, const auto&) {
    csv += fmt::format(",{}", column);
  });
  for_each_result_column(RunSummary(), [&](const char* column, const auto&, const char*) {
    csv += fmt::format(",{}", column);
  });
  csv += '\n';
  for (const auto& r : rows) {
    csv += code_name(r.config.code);
    // A setting the code does not read is left empty: the row says what the run was.
    for_each_swept_setting(
        r.config, [&](const char*, const char* key, const char*, const auto& value) {
          csv += applies_to(key, r.config.code) ? fmt::format(",{}", value) : ",";
        });
    for_each_result_column(r.summary, [&](const char*, const auto& value, const char* format) {
      csv += ',' + fmt::format(fmt::runtime(format), value);
    });
    csv += '\n';
  }
  write_file_atomically((fs::path(dir) / kSweepCsvFile).string(), csv);
  // L0 spans decades across a grid (1e-3 for a very sparse sigmoid code, 64 for a saturated
  // one): a log axis keeps the points apart. The FVU is the thresholded one, with inactive units
  // zeroed, so that a dense code's small activations do not pass for a sparse reconstruction; on
  // a log axis too, as a KL code's zeroed FVU is 10 times a TopK code's.
  const PlotSpec spec{"Reconstruction against sparsity, one curve per kind of code",
                      {"mean L0 (active code units per test image, log scale)", Scale::kLog10},
                      {"thresholded FVU (inactive units zeroed, log scale)", Scale::kLog10}};
  plot_frontier((fs::path(dir) / kSweepPlotFile).string(), spec, frontier_curves(rows));
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
  std::vector<std::string> header = {kCodeColumn};
  for_each_swept_setting(kDefaults, [&](const char* column, const char*, const char*, const auto&) {
    header.push_back(column);
  });
  const std::vector<std::string> legacy_header(std::begin(kLegacyColumns),
                                               std::end(kLegacyColumns));
  const auto starts_with = [](const std::vector<std::string>& cells,
                              const std::vector<std::string>& prefix) {
    return cells.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), cells.begin());
  };
  SweepTable table;
  if (next_line()) table.columns = split_cells(line);
  const bool legacy = starts_with(table.columns, legacy_header);
  if (!legacy && !starts_with(table.columns, header)) {
    throw std::runtime_error(fmt::format(
        "{}: line 1: expected a header starting '{},', as sae sweep writes it (or '{},', as it "
        "wrote it before --code), found {}; {}",
        path, fmt::join(header, ","), fmt::join(legacy_header, ","), printable_quoted(line), fix));
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
    // The grid point's folder name is rebuilt from these settings, never taken from the text: a
    // cell such as "/../../x" must not become a path.
    const auto refuse = [&](size_t column, const std::string& expected,
                            const std::string& why = "") {
      return std::runtime_error(fmt::format("{}: line {}: expected {} for {}{}, found {}; {}", path,
                                            number, expected, table.columns[column], why,
                                            printable_quoted(row.cells[column]), fix));
    };
    const auto number_at = [&](size_t column) {
      const std::optional<double> value = finite_number(row.cells[column]);
      if (!value) throw refuse(column, "a finite number");
      return *value;
    };
    RunConfig& settings = row.settings;
    if (legacy) {
      settings.code = CodeKind::kSigmoid;
      settings.beta = number_at(0);
      settings.rho = number_at(1);
    } else {
      try {
        settings.code = parse_code(row.cells[0]);  // exactly as code_name writes it
      } catch (const UsageError&) {
        throw refuse(0,
                     fmt::format("one of {}", fmt::join(names_of_kind(CodeKind::kSigmoid), ", ")));
      }
      size_t column = 1;
      for_each_swept_setting(settings, [&](const char*, const char* key, const char*, auto& field) {
        using T = std::decay_t<decltype(field)>;
        const std::string& cell = row.cells[column];
        if (!applies_to(key, settings.code)) {
          if (!cell.empty()) {
            throw refuse(
                column, "an empty cell",
                fmt::format(" (it does not apply to --code {})", code_name(settings.code)));
          }
        } else if constexpr (std::is_integral_v<T>) {
          const std::optional<int64_t> value = whole_integer(cell);
          if (!value) throw refuse(column, "an integer");
          field = *value;
        } else {
          field = number_at(column);
        }
        ++column;
      });
    }
    row.name = sweep_point_name(settings);
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace sae
