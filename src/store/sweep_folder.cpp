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
#include <functional>
#include <map>
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

/// One axis of a sweep's grid: the kind of code, or a swept setting that takes several values.
struct GridAxis {
  std::string key;             ///< kCodeColumn, or the setting's key in RunConfig's table
  std::string symbol;          ///< how a label names the setting: "β"; empty for the code
  std::vector<double> values;  ///< the distinct values, ascending; the code's index in code_kinds()
  int64_t rows = 0;            ///< the rows it applies to
};

/// The value of `axis` for the run of `config`, or nullopt where the setting does not apply.
std::optional<double> axis_value(const GridAxis& axis, const RunConfig& config) {
  if (axis.key == kCodeColumn) {
    const auto& kinds = code_kinds();
    const auto found = std::find_if(kinds.begin(), kinds.end(),
                                    [&](const Code* kind) { return kind->kind() == config.code; });
    return static_cast<double>(found - kinds.begin());
  }
  std::optional<double> value;
  for_each_swept_setting(config, [&](const char*, const char* key, const char*, const auto& v) {
    if (axis.key == key && applies_to(key, config.code)) value = static_cast<double>(v);
  });
  return value;
}

/// The axes of the grid that `rows` spans, in sweep.csv's order: the code first, then the swept
/// settings; those with one value only are left out, but the code's always comes first.
std::vector<GridAxis> grid_axes(const std::vector<SweepRow>& rows) {
  std::vector<GridAxis> axes = {{kCodeColumn, "", {}, 0}};
  for_each_swept_setting(kDefaults,
                         [&](const char*, const char* key, const char* symbol, const auto&) {
                           axes.push_back({key, symbol, {}, 0});
                         });
  for (GridAxis& axis : axes) {
    for (const SweepRow& r : rows) {
      if (const auto v = axis_value(axis, r.config)) {
        axis.values.push_back(*v);
        ++axis.rows;
      }
    }
    axis.values = distinct(axis.values);
  }
  const GridAxis code = axes.front();
  axes.erase(std::remove_if(axes.begin(), axes.end(),
                            [](const GridAxis& a) { return a.values.size() < 2; }),
             axes.end());
  if (axes.empty() || axes.front().key != kCodeColumn) axes.insert(axes.begin(), code);
  return axes;
}

/// "topk", "β = 0.005": a value of `axis` as the legend names it.
std::string value_name(const GridAxis& axis, double value) {
  if (axis.key == kCodeColumn) return code_kinds()[static_cast<std::size_t>(value)]->name();
  return fmt::format("{} = {:g}", axis.symbol, value);  // a k of 8, not 8.0
}

/// Where `value` stands among the values of `axis`.
int value_index(const GridAxis& axis, double value) {
  return static_cast<int>(std::lower_bound(axis.values.begin(), axis.values.end(), value) -
                          axis.values.begin());
}

/// How a sweep's runs are told apart on its pictures: colour by one axis of the grid, marker by
/// another, and a label for what is left.
struct PointStyle {
  GridAxis colour;
  std::optional<GridAxis> marker;
  std::vector<GridAxis> labelled;
  bool marker_everywhere = true;  ///< false: some rows lack the marker's setting (marker 0)
};

/// Colour by the kind of code when the sweep has several, else by the first setting swept;
/// marker by the setting that the most runs read; labels for the rest.
PointStyle point_style(const std::vector<SweepRow>& rows) {
  std::vector<GridAxis> axes = grid_axes(rows);
  PointStyle style;
  const bool kinds = axes.front().values.size() > 1;
  if (!kinds && axes.size() > 1) axes.erase(axes.begin());  // one kind: its settings
  style.colour = axes.front();
  axes.erase(axes.begin());
  if (!axes.empty()) {
    // The first of those the most runs read.
    const auto most =
        std::max_element(axes.begin(), axes.end(),
                         [](const GridAxis& a, const GridAxis& b) { return a.rows < b.rows; });
    style.marker = *most;
    axes.erase(most);
    style.marker_everywhere = style.marker->rows == static_cast<int64_t>(rows.size());
  }
  style.labelled = axes;
  return style;
}

/// "ρ=0.05": the settings of the run of `config` that neither colour nor marker shows.
std::string point_label(const PointStyle& style, const RunConfig& config) {
  std::vector<std::string> parts;
  for (const GridAxis& axis : style.labelled) {
    if (const auto v = axis_value(axis, config)) {
      parts.push_back(fmt::format("{}={:g}", axis.symbol, *v));
    }
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

/// "2 runs", "1 run".
std::string runs(int64_t n) {
  return fmt::format("{} run{}", n, n == 1 ? "" : "s");
}

/// One panel of the sweep's picture: each run at (its L0, `y` of it), those that cannot be drawn
/// left out and named in its notes.
Scatter sweep_scatter(const std::vector<SweepRow>& rows, const PointStyle& style,
                      const std::function<double(const SweepRow&)>& y, const char* y_name) {
  Scatter scatter;
  for (const double v : style.colour.values) scatter.colours.push_back(value_name(style.colour, v));
  if (style.marker) {
    if (!style.marker_everywhere) scatter.markers.push_back("no " + style.marker->symbol);
    for (const double v : style.marker->values) {
      scatter.markers.push_back(value_name(*style.marker, v));
    }
  }
  scatter.front = style.colour.key == kCodeColumn ? Front::kPerColour : Front::kAll;
  // Per reason a run is not drawn: how many, and of which kinds of code.
  std::map<std::string, std::pair<int64_t, std::vector<std::string>>> left_off;
  for (const SweepRow& r : rows) {
    const EvalMetrics& t = r.summary.test;
    // L0 = 0 has no place on the log axis, and no floor pretends otherwise.
    const char* reason = !std::isfinite(t.mean_l0) ? "without an L0"
                         : t.mean_l0 <= 0          ? "with L0 = 0"
                         : !std::isfinite(y(r))    ? y_name
                                                   : nullptr;
    if (reason) {
      auto& [count, kinds] = left_off[reason];
      ++count;
      if (std::find(kinds.begin(), kinds.end(), code_name(r.config.code)) == kinds.end()) {
        kinds.push_back(code_name(r.config.code));
      }
      continue;
    }
    ScatterPoint p{t.mean_l0, y(r), value_index(style.colour, *axis_value(style.colour, r.config)),
                   0, point_label(style, r.config)};
    if (style.marker) {
      const auto v = axis_value(*style.marker, r.config);
      p.marker = v ? value_index(*style.marker, *v) + (style.marker_everywhere ? 0 : 1) : 0;
    }
    scatter.points.push_back(std::move(p));
  }
  for (const auto& [reason, what] : left_off) {
    scatter.notes.push_back(fmt::format("{} {} not drawn ({})", runs(what.first), reason,
                                        fmt::join(what.second, ", ")));
  }
  return scatter;
}

/// sweep.png's two panels: reconstruction against sparsity, and what a linear probe reads off
/// the code against sparsity, their runs drawn alike.
std::vector<ScatterPanel> sweep_panels(const std::vector<SweepRow>& rows) {
  const PointStyle style = point_style(rows);
  // L0 spans decades across a grid (1e-3 for a very sparse sigmoid code, 64 for a saturated
  // one): a log axis keeps the points apart. The FVU is the thresholded one, with inactive units
  // zeroed, so that a dense code's small activations do not pass for a sparse reconstruction; on
  // a log axis too, as a KL code's zeroed FVU is 10 times a TopK code's.
  const Axis l0{"mean L0 (active code units per test image, log scale)", Scale::kLog10};
  ScatterPanel frontier{
      {"Reconstruction against sparsity",
       l0,
       {"thresholded FVU (inactive units zeroed, log scale)", Scale::kLog10}},
      sweep_scatter(
          rows, style, [](const SweepRow& r) { return r.summary.test.thresholded_fvu; },
          "without an FVU")};
  ScatterPanel probe{
      {"What a linear probe reads off the code", l0, {"probe test accuracy (%)"}},
      sweep_scatter(
          rows, style, [](const SweepRow& r) { return 100 * r.summary.probe.test_accuracy; },
          "without a probe accuracy")};
  probe.scatter.higher_y_is_better = true;
  probe.scatter.group_legend = false;  // the frontier's legend names the groups for both
  // The same probe on the raw pixels: the line a code's accuracy is read against.
  for (const SweepRow& r : rows) {
    const double pixels = r.summary.pixel_probe.test_accuracy;
    if (!std::isfinite(pixels)) continue;
    probe.scatter.references.push_back(
        {100 * pixels, fmt::format("the probe on the raw pixels: {:.1f}%", 100 * pixels)});
    break;
  }
  return {frontier, probe};
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
  plot_scatter((fs::path(dir) / kSweepPlotFile).string(), sweep_panels(rows));
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
