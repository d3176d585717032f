#include "sae/sweep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/atomic_file.hpp"
#include "sae/plot.hpp"
#include "sae/run_folder.hpp"

#include <filesystem>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr double kL0Floor = 1e-3;
constexpr const char* kSweepHeader =
    "beta,rho,test_mse,mean_rho_hat,dead_units,mean_l0,probe_accuracy,seconds";

/// One row of sweep.csv.
struct SweepRow {
  double beta;
  double rho;
  RunSummary summary;
};

}  // namespace

std::string sweep_run_name(double beta, double rho) {
  return fmt::format("beta={}_rho={}", beta, rho);
}

int run_sweep(const SweepOptions& o) {
  if (o.betas.empty() || o.rhos.empty()) {
    throw std::invalid_argument("sweep needs at least one --beta and one --rho value");
  }
  for (const double beta : o.betas) {
    for (const double rho : o.rhos) check_sparsity_params(beta, rho);
  }
  validate(o.base);
  fs::create_directories(o.out);

  std::vector<SweepRow> rows;
  const size_t total = o.betas.size() * o.rhos.size();
  for (const double beta : o.betas) {
    for (const double rho : o.rhos) {
      const fs::path run = fs::path(o.out) / sweep_run_name(beta, rho);
      const std::string summary_path = (run / "summary.json").string();
      spdlog::info("sweep {}/{}: beta {}, rho {}", rows.size() + 1, total, beta, rho);
      if (fs::exists(summary_path)) {
        spdlog::info("{} already finished; skipped", run.string());
      } else {
        TrainOptions train = o.base;
        train.beta = beta;
        train.rho = rho;
        // An interrupted grid point continues; a folder with no checkpoint starts over.
        if (fs::exists(run / "checkpoint.json")) {
          train.resume = run.string();
        } else {
          train.out = run.string();
          train.force = true;
        }
        if (const int code = run_train(train); code != 0) return code;
      }
      rows.push_back({beta, rho, read_summary_json(summary_path)});
    }
  }

  std::string csv = std::string(kSweepHeader) + '\n';
  for (const auto& r : rows) {
    const auto& t = r.summary.test;
    csv += fmt::format("{},{},{:.8g},{:.8g},{},{:.8g},{:.6f},{:.3f}\n", r.beta, r.rho, t.mse,
                       t.mean_rho_hat, t.dead_units, t.mean_l0, r.summary.probe.test_accuracy,
                       r.summary.seconds);
  }
  write_text_atomically((fs::path(o.out) / "sweep.csv").string(), csv);
  std::vector<LabelledPoint> points;
  for (const auto& r : rows) {
    points.push_back(
        {r.summary.test.mean_l0, r.summary.test.mse, fmt::format("b={} r={}", r.beta, r.rho)});
  }
  // L0 spans decades across a grid (1e-3 for a very sparse code, 64 for a saturated one): a log
  // axis keeps the points apart; an L0 below kL0Floor is drawn at it.
  plot_labelled_points((fs::path(o.out) / "sweep.png").string(),
                       "Sparsity against reconstruction, one point per (beta, rho)",
                       fmt::format("mean L0 (code units above 0.5 per test image; below {} drawn "
                                   "at {})",
                                   kL0Floor, kL0Floor),
                       "test MSE", points, kL0Floor);
  spdlog::info("wrote {}/sweep.csv and {}/sweep.png", o.out, o.out);
  return 0;
}

}  // namespace sae
