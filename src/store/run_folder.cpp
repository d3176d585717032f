#include "sae/store/run_folder.hpp"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "sae/base/atomic_file.hpp"
#include "sae/base/errors.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRunsFolder = "runs";
constexpr int kMaxRunDirSuffix = 1000;

// summary.json's fields beside "test" that files written before them lack.
constexpr std::array<std::string_view, 3> kLaterSummaryFields = {
    "pixel_probe_accuracy", "pixel_probe_train_accuracy", "train_dead_units"};

constexpr std::string_view kTestPrefix = "test_";
constexpr std::string_view kValPrefix = "val_";

/// Calls `visit(column, field, csv_format)` for each column of metrics.csv, in order. The
/// per-epoch evaluation's columns are test_* or, with a validation split, val_*.
template <typename Row, typename Visit>
void for_each_column(Row& row, bool validation, Visit&& visit) {
  visit("epoch", row.epoch, "{}");
  visit("train_loss", row.train_loss, "{:.8g}");
  visit("train_mse", row.train_mse, "{:.8g}");
  visit("train_kl", row.train_kl, "{:.8g}");
  for_each_metric(row.test, [&](const MetricSpec& spec, auto& value) {
    if (!spec.epoch_column) return;
    if (!validation) return visit(spec.epoch_column, value, spec.csv_format);
    const std::string column =
        std::string(kValPrefix) + (spec.epoch_column + kTestPrefix.size());  // test_mse -> val_mse
    visit(column.c_str(), value, spec.csv_format);
  });
  visit("train_dead_units", row.train_dead_units, "{}");  // after the test columns: added later
  visit("seconds", row.seconds, "{:.3f}");
  visit("images_per_s", row.images_per_s, "{:.1f}");
}

std::vector<std::string> metrics_columns(bool validation) {
  std::vector<std::string> columns;
  EpochMetrics row;
  for_each_column(row, validation,
                  [&](const char* column, auto&, const char*) { columns.push_back(column); });
  return columns;
}

std::string join(const std::vector<std::string>& cells) {
  std::string line;
  for (const auto& cell : cells) line += (line.empty() ? "" : ",") + cell;
  return line;
}

/// Calls `visit(column, field, csv_format)` for each column of steps.csv, in order.
template <typename Row, typename Visit>
void for_each_step_column(Row& row, Visit&& visit) {
  visit("step", row.step, "{}");
  visit("epoch", row.epoch, "{}");
  visit("loss", row.loss, "{:.8g}");
  visit("mse", row.mse, "{:.8g}");
  visit("penalty", row.penalty, "{:.8g}");
  visit("l0", row.l0, "{:.6g}");
  visit("lr", row.lr, "{:.8g}");
  visit("images_per_s", row.images_per_s, "{:.1f}");
}

std::string steps_header() {
  std::vector<std::string> columns;
  StepRecord row;
  for_each_step_column(row,
                       [&](const char* column, auto&, const char*) { columns.push_back(column); });
  return join(columns);
}

/// One row of steps.csv, with its newline.
std::string step_line(const StepRecord& row) {
  std::vector<std::string> cells;
  for_each_step_column(row, [&](const char*, const auto& value, const char* format) {
    cells.push_back(fmt::format(fmt::runtime(format), value));
  });
  return join(cells) + '\n';
}

/// True for the files a run writes, which --force may remove.
bool is_run_file(const std::string& name) {
  for (const char* run_file :
       {kConfigFile, kManifestFile, kModelFile, kMetricsFile, kStepsFile, kLossPlotFile,
        kSummaryFile, kReconstructionsFile, kReportFile, kReportAssetsDir, kLaunchFile}) {
    if (name == run_file) return true;
  }
  for (const char* picture : kInspectionFiles) {
    if (name == picture) return true;
  }
  return is_checkpoint_file_name(name) || is_pair_file_name(name) || is_temporary_file_name(name);
}

}  // namespace

RunLock::RunLock(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / kLockFile).string();
  // A symlink in the lock's place is replaced, never followed (its target would be truncated),
  // as symlinked run files are.
  struct stat link {};
  if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) ::unlink(path.c_str());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  struct stat info {};
  if (fd_ >= 0 && (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode))) {
    ::close(fd_);
    throw std::runtime_error(
        fmt::format("cannot lock {}: {} is not a regular file; remove it", run_dir, path));
  }
  if (fd_ < 0) {
    throw std::runtime_error(fmt::format("cannot lock {}: {}", run_dir, std::strerror(errno)));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder;
    try {
      holder = read_file(path);
    } catch (const std::exception&) {
    }
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) {
      throw std::runtime_error(fmt::format("cannot lock {}: {}", run_dir, std::strerror(error)));
    }
    while (!holder.empty() && std::isspace(static_cast<unsigned char>(holder.back()))) {
      holder.pop_back();
    }
    throw std::runtime_error(
        fmt::format("{} is in use by another sae ({}); wait for it to end, or stop it first",
                    run_dir, holder.empty() ? "pid unknown" : holder));
  }
  // Who holds it, for the message above; the lock itself is the flock, not this text.
  const std::string holder = fmt::format("pid {}", ::getpid());
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd_, holder.data(), holder.size(), 0);
  }
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

std::string claim_default_run_dir() {
  std::error_code ec;
  fs::create_directories(kRunsFolder, ec);
  const std::string stamp =
      fmt::format("{}/{:%Y%m%d-%H%M%S}", kRunsFolder, fmt::localtime(std::time(nullptr)));
  for (int suffix = 1; suffix <= kMaxRunDirSuffix; ++suffix) {
    const std::string dir = suffix == 1 ? stamp : fmt::format("{}-{}", stamp, suffix);
    if (fs::create_directory(dir, ec)) return dir;  // false when it exists: another run has it
    if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", dir, ec.message()));
  }
  throw std::runtime_error(fmt::format("cannot find a free run folder name for {}", stamp));
}

void prepare_new_run_dir(const std::string& dir, bool force) {
  std::error_code ec;
  const std::vector<fs::path> run_files = check_new_run_dir(dir, force);
  if (run_files.empty()) return;
  // A forced run starts clean: an old checkpoint, summary or picture must not pass for this one's.
  // The manifest goes first, so that an interrupted clean-up never leaves it naming lost files.
  std::vector<fs::path> order = run_files;
  std::stable_partition(order.begin(), order.end(),
                        [](const fs::path& path) { return path.filename() == kManifestFile; });
  for (const auto& path : order) {
    if (fs::remove_all(path, ec) == static_cast<std::uintmax_t>(-1) || ec) {
      throw std::runtime_error(fmt::format("cannot remove {}: {}", path.string(), ec.message()));
    }
  }
}

std::vector<fs::path> check_new_run_dir(const std::string& dir, bool force) {
  std::vector<fs::path> run_files;
  bool other_files = false;
  for (const auto& entry : fs::directory_iterator(dir)) {  // throws if it cannot be listed
    const std::string name = entry.path().filename().string();
    if (name == kLockFile) continue;
    if (is_run_file(name)) {
      run_files.push_back(entry.path());
    } else {
      other_files = true;
    }
  }
  if (run_files.empty() && !other_files) return run_files;
  if (!force) {
    throw UsageError(fmt::format(
        "--out {}: the folder already holds files; pass --resume {} to continue it, --force to "
        "start it over, or choose another --out",
        dir, dir));
  }
  if (run_files.empty()) {
    throw UsageError(fmt::format(
        "--out {}: --force starts over a run folder, but this folder holds no run; choose "
        "another --out",
        dir));
  }
  return run_files;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows,
                       bool validation) {
  std::string text = join(metrics_columns(validation)) + '\n';
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    for_each_column(row, validation, [&](const char*, const auto& value, const char* format) {
      cells.push_back(fmt::format(fmt::runtime(format), value));
    });
    text += join(cells) + '\n';
  }
  write_file_atomically(path, text);
}

std::vector<EpochMetrics> read_metrics_csv(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  if (!std::getline(in, line)) line.clear();
  const bool validation =
      line.find(std::string(",") + std::string(kValPrefix)) != std::string::npos;
  const std::vector<std::string> columns = metrics_columns(validation);
  // A file written before a metric existed lacks its column: the header names what is there, in
  // the table's order, and the columns it leaves out read as NaN (a count keeps its default).
  std::vector<bool> present(columns.size(), false);
  {
    std::istringstream names(line);
    size_t next = 0;
    bool in_order = !line.empty();
    for (std::string name; in_order && std::getline(names, name, ',');) {
      while (next < columns.size() && columns[next] != name) ++next;
      in_order = next < columns.size();
      if (in_order) present[next++] = true;
    }
    if (!in_order || !present.front()) {
      throw std::runtime_error(
          fmt::format("{}: line 1: expected the header '{}'", path, join(columns)));
    }
  }
  const auto expected = static_cast<size_t>(std::count(present.begin(), present.end(), true));
  std::vector<EpochMetrics> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    // strtod, not operator>>, so that "nan" (explained variance of a constant test set) reads.
    std::vector<double> values;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) {
      char* end = nullptr;
      const double value = std::strtod(field.c_str(), &end);
      if (field.empty() || *end != '\0') break;
      values.push_back(value);
    }
    if (values.size() != expected ||
        static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1 != expected) {
      throw std::runtime_error(fmt::format("{}: line {}: expected {} numbers, found '{}'", path,
                                           number, expected, line));
    }
    EpochMetrics row;
    row.on_validation = validation;
    size_t column = 0, value = 0;
    for_each_column(row, validation, [&](const char*, auto& field, const char*) {
      using T = std::remove_reference_t<decltype(field)>;
      if (present[column++]) {
        field = static_cast<T>(values[value++]);
      } else if constexpr (std::is_floating_point_v<T>) {
        field = std::numeric_limits<T>::quiet_NaN();
      }
    });
    rows.push_back(row);
  }
  return rows;
}

void append_steps_csv(const std::string& path, const StepRecord& row) {
  std::string line = step_line(row);
  std::error_code ec;
  if (!fs::exists(path, ec)) line = steps_header() + '\n' + line;
  // One write(2) of a whole line in append mode: a kill leaves at most a partial last line, which
  // the resume's trim_steps_csv drops.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("{}: cannot append: {}", path, std::strerror(errno)));
  }
  const ssize_t written = ::write(fd, line.data(), line.size());
  const int error = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error(fmt::format("{}: cannot append: {}", path, std::strerror(error)));
  }
}

std::vector<StepRecord> read_steps_csv(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  if (!std::getline(in, line) || line != steps_header()) {
    throw std::runtime_error(
        fmt::format("{}: line 1: expected the header '{}'", path, steps_header()));
  }
  std::vector<StepRecord> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    if (in.eof()) break;  // no newline after it: a line that a kill cut short
    StepRecord row;
    std::istringstream fields(line);
    bool ok = true;
    for_each_step_column(row, [&](const char*, auto& field, const char*) {
      std::string cell;
      char* end = nullptr;
      const double value = std::getline(fields, cell, ',') ? std::strtod(cell.c_str(), &end) : 0;
      ok = ok && !cell.empty() && *end == '\0';
      field = static_cast<std::remove_reference_t<decltype(field)>>(value);
    });
    if (!ok || !fields.eof()) {
      throw std::runtime_error(fmt::format("{}: line {}: expected the columns '{}', found '{}'",
                                           path, number, steps_header(), line));
    }
    rows.push_back(row);
  }
  return rows;
}

void trim_steps_csv(const std::string& path, int64_t last_step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::string text = steps_header() + '\n';
  for (const StepRecord& row : read_steps_csv(path)) {
    if (row.step > last_step) break;
    text += step_line(row);
  }
  write_file_atomically(path, text);
}

void write_launch_record(const std::string& dir, const std::string& run_id) {
  const nlohmann::json json = {{"torchelastic_run_id", run_id}};
  write_file_atomically((fs::path(dir) / kLaunchFile).string(), json.dump(2) + '\n');
}

std::optional<std::string> read_launch_record(const std::string& dir) {
  const fs::path path = fs::path(dir) / kLaunchFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return nlohmann::json::parse(read_file(path.string()))
        .at("torchelastic_run_id")
        .get<std::string>();
  } catch (const std::exception&) {
    return std::nullopt;  // not this launch's, then: the worker starts over as a new run would
  }
}

void write_summary_json(const std::string& path, const RunSummary& summary) {
  nlohmann::json json = {{"test", to_json(summary.test)}};
  for_each_summary_field(
      summary, [&](const char* key, const auto& value, const char*, bool) { json[key] = value; });
  write_file_atomically(path, json.dump(2) + '\n');
}

RunSummary read_summary_json(const std::string& path) {
  try {
    const auto json = nlohmann::json::parse(read_file(path));
    RunSummary summary;
    from_json(json.at("test"), summary.test);
    for_each_summary_field(summary, [&](const char* key, auto& value, const char*, bool) {
      using T = std::remove_reference_t<decltype(value)>;
      const auto it = json.find(key);
      const bool later = std::find(kLaterSummaryFields.begin(), kLaterSummaryFields.end(), key) !=
                         kLaterSummaryFields.end();
      if (later && it == json.end()) {
        if constexpr (std::is_floating_point_v<T>) value = std::numeric_limits<T>::quiet_NaN();
        return;  // a count keeps its default
      }
      // nlohmann writes NaN as null: the pixel probe of a run without one.
      if constexpr (std::is_floating_point_v<T>) {
        if (it != json.end() && it->is_null()) {
          value = std::numeric_limits<T>::quiet_NaN();
          return;
        }
      }
      json.at(key).get_to(value);
    });
    return summary;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace sae
