#include "sae/run_folder.hpp"

#include <fmt/format.h>

#include "sae/atomic_file.hpp"
#include "sae/plot.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMetricsHeader =
    "epoch,train_loss,train_mse,train_kl,test_loss,test_mse,test_kl,test_explained_variance,"
    "test_mean_rho_hat,test_dead_units,test_far_units,test_l0,seconds,images_per_s";
constexpr size_t kMetricsColumns = 14;

}  // namespace

void prepare_run_dir(const std::string& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw std::invalid_argument(fmt::format("--out {}: exists and is not a folder", dir));
  }
  if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec) && !force) {
    throw std::invalid_argument(fmt::format(
        "--out {}: the folder already holds files; pass --resume {} to continue it, --force to "
        "overwrite it, or choose another --out",
        dir, dir));
  }
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(fmt::format("--out {}: cannot create: {}", dir, ec.message()));
  // A forced run starts clean: an old checkpoint or summary must not pass for this run's.
  for (const char* name :
       {"model.pt", "optimizer.pt", "checkpoint.json", "summary.json", "metrics.csv"}) {
    fs::remove(fs::path(dir) / name, ec);
  }
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows) {
  std::string text = std::string(kMetricsHeader) + '\n';
  for (const auto& r : rows) {
    text += fmt::format(
        "{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{},{},{:.8g},{:.3f},{:.1f}\n",
        r.epoch, r.train_loss, r.train_mse, r.train_kl, r.test_loss, r.test_mse, r.test_kl,
        r.test_explained_variance, r.test_mean_rho_hat, r.test_dead_units, r.test_far_units,
        r.test_l0, r.seconds, r.images_per_s);
  }
  write_text_atomically(path, text);
}

std::vector<EpochMetrics> read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path));
  std::string line;
  if (!std::getline(in, line) || line != kMetricsHeader) {
    throw std::runtime_error(
        fmt::format("{}: line 1: expected the header '{}'", path, kMetricsHeader));
  }
  std::vector<EpochMetrics> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    // strtod, not operator>>, so that "nan" (explained variance of a constant test set) reads.
    std::vector<double> v;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) {
      char* end = nullptr;
      const double value = std::strtod(field.c_str(), &end);
      if (field.empty() || *end != '\0') {
        v.clear();
        break;
      }
      v.push_back(value);
    }
    if (v.size() != kMetricsColumns) {
      throw std::runtime_error(fmt::format("{}: line {}: expected {} numbers, found '{}'", path,
                                           number, kMetricsColumns, line));
    }
    EpochMetrics r;
    r.epoch = static_cast<int64_t>(v[0]);
    r.train_loss = v[1];
    r.train_mse = v[2];
    r.train_kl = v[3];
    r.test_loss = v[4];
    r.test_mse = v[5];
    r.test_kl = v[6];
    r.test_explained_variance = v[7];
    r.test_mean_rho_hat = v[8];
    r.test_dead_units = static_cast<int64_t>(v[9]);
    r.test_far_units = static_cast<int64_t>(v[10]);
    r.test_l0 = v[11];
    r.seconds = v[12];
    r.images_per_s = v[13];
    rows.push_back(r);
  }
  return rows;
}

void write_summary_json(const std::string& path, const RunSummary& summary) {
  const nlohmann::json json = {
      {"test", to_json(summary.test)},
      {"probe_accuracy", summary.probe.test_accuracy},
      {"probe_train_accuracy", summary.probe.train_accuracy},
      {"seconds", summary.seconds},
  };
  write_text_atomically(path, json.dump(2) + '\n');
}

RunSummary read_summary_json(const std::string& path) {
  try {
    const auto json = nlohmann::json::parse(std::ifstream(path));
    const auto& test = json.at("test");
    RunSummary s;
    s.test.images = test.at("images").get<int64_t>();
    s.test.mse = test.at("mse").get<double>();
    s.test.kl = test.at("kl").get<double>();
    s.test.loss = test.at("loss").get<double>();
    s.test.mean_rho_hat = test.at("mean_rho_hat").get<double>();
    s.test.dead_units = test.at("dead_units").get<int64_t>();
    s.test.mean_l0 = test.at("mean_l0").get<double>();
    s.probe.test_accuracy = json.at("probe_accuracy").get<double>();
    s.seconds = json.at("seconds").get<double>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
}

void plot_loss_curve(const std::string& path, const std::vector<EpochMetrics>& rows) {
  Series train{"train loss", {}, {}};
  Series test{"test loss", {}, {}};
  for (const auto& r : rows) {
    train.x.push_back(static_cast<double>(r.epoch));
    train.y.push_back(r.train_loss);
    test.x.push_back(static_cast<double>(r.epoch));
    test.y.push_back(r.test_loss);
  }
  plot_lines(path, "Sparse autoencoder: MSE + beta * penalty", "epoch", "loss", {train, test});
}

}  // namespace sae
