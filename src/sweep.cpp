#include "sae/sweep.hpp"

#include <fmt/format.h>

#include "sae/atomic_file.hpp"
#include "sae/errors.hpp"
#include "sae/plot.hpp"

#include <algorithm>
#include <filesystem>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr double kL0Floor = 1e-3;
constexpr const char* kSweepCsv = "sweep.csv";
constexpr const char* kSweepPlot = "sweep.png";
constexpr const char* kSweepHeader =
    "beta,rho,test_mse,mean_rho_hat,dead_units,mean_l0,probe_accuracy,seconds";

/// Sorted, without repeats: 0.001 and 1e-3 are one grid value.
std::vector<double> distinct(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
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
      grid.push_back({config, fmt::format("beta={}_rho={}", beta, rho)});
    }
  }
  return grid;
}

void write_sweep_results(const std::string& dir, const std::vector<SweepRow>& rows) {
  std::string csv = std::string(kSweepHeader) + '\n';
  std::vector<LabelledPoint> points;
  for (const auto& r : rows) {
    const auto& t = r.summary.test;
    csv += fmt::format("{},{},{:.8g},{:.8g},{},{:.8g},{:.6f},{:.3f}\n", r.beta, r.rho, t.mse,
                       t.mean_rho_hat, t.dead_units, t.mean_l0, r.summary.probe.test_accuracy,
                       r.summary.seconds);
    points.push_back({t.mean_l0, t.mse, fmt::format("b={} r={}", r.beta, r.rho)});
  }
  write_file_atomically((fs::path(dir) / kSweepCsv).string(), csv);
  // L0 spans decades across a grid (1e-3 for a very sparse code, 64 for a saturated one): a log
  // axis keeps the points apart; an L0 below kL0Floor is drawn at it.
  const PlotSpec spec{
      "Sparsity against reconstruction, one point per (beta, rho)",
      {fmt::format("mean L0 (code units above 0.5 per test image; below {} drawn at {})", kL0Floor,
                   kL0Floor),
       Scale::kLog10, kL0Floor},
      {"test MSE"}};
  plot_labelled_points((fs::path(dir) / kSweepPlot).string(), spec, points);
}

}  // namespace sae
