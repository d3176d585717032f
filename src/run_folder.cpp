#include "sae/run_folder.hpp"

#include <fmt/format.h>

#include "sae/atomic_file.hpp"
#include "sae/plot.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMetricsHeader =
    "epoch,train_loss,train_mse,train_kl,test_loss,test_mse,test_kl,seconds,images_per_s";

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
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << kMetricsHeader << '\n';
    for (const auto& r : rows) {
      out << fmt::format("{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.3f},{:.1f}\n", r.epoch,
                         r.train_loss, r.train_mse, r.train_kl, r.test_loss, r.test_mse, r.test_kl,
                         r.seconds, r.images_per_s);
    }
  });
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
    EpochMetrics r;
    char comma = 0;
    std::istringstream fields(line);
    fields >> r.epoch >> comma >> r.train_loss >> comma >> r.train_mse >> comma >> r.train_kl >>
        comma >> r.test_loss >> comma >> r.test_mse >> comma >> r.test_kl >> comma >> r.seconds >>
        comma >> r.images_per_s;
    if (!fields || !(fields >> std::ws).eof()) {
      throw std::runtime_error(
          fmt::format("{}: line {}: expected 9 numbers, found '{}'", path, number, line));
    }
    rows.push_back(r);
  }
  return rows;
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
  plot_lines(path, "Sparse autoencoder: MSE + beta * KL", "epoch", "loss", {train, test});
}

}  // namespace sae
