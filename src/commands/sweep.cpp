// `sae sweep`: one run per (beta, rho), and the sparsity/quality trade-off at a glance.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/checkpoint.hpp"
#include "sae/device.hpp"
#include "sae/errors.hpp"
#include "sae/idx.hpp"
#include "sae/interrupt.hpp"
#include "sae/run.hpp"
#include "sae/sweep.hpp"

#include <filesystem>

namespace sae::commands {
namespace {

namespace fs = std::filesystem;

struct SweepOptions {
  RunConfig base;  // everything but beta and rho
  std::vector<double> betas;
  std::vector<double> rhos;
  std::string out;     // one run folder per grid point, sweep.csv and sweep.png
  bool force = false;  // retrain finished points whose settings differ
};

/// What becomes of a grid point's folder.
enum class PointState { kFinished, kInterrupted, kNew };

/// A folder's run counts only if it was trained with the settings asked for now; one with other
/// settings is an error, or is trained again from scratch under --force.
PointState point_state(const std::string& run_dir, const RunConfig& asked, bool force) {
  if (!fs::exists(fs::path(run_dir) / kConfigFile)) return PointState::kNew;
  const auto checkpoint = find_checkpoint(run_dir, /*verify_files=*/false);
  if (!checkpoint) return PointState::kInterrupted;  // before its first commit: starts over
  const std::vector<std::string> differences = setting_differences(checkpoint->config, asked);
  if (!differences.empty()) {
    if (!force) {
      throw UsageError(fmt::format(
          "{} was trained with {}; pass --force to train the grid again with the new settings, "
          "or choose another --out",
          run_dir, fmt::join(differences, ", ")));
    }
    spdlog::warn("{} was trained with {}; training it again (--force)", run_dir,
                 fmt::join(differences, ", "));
    return PointState::kNew;
  }
  return fs::exists(fs::path(run_dir) / kSummaryFile) ? PointState::kFinished
                                                      : PointState::kInterrupted;
}

int run_sweep(const SweepOptions& o, const CommonOptions& common) {
  const std::vector<SweepPoint> grid = sweep_grid(o.base, o.betas, o.rhos);
  const torch::Device device = apply({o.base.device, o.base.threads});
  const Dataset train = load_split(o.base.data_dir, Split::kTrain);
  const Dataset test = load_split(o.base.data_dir, Split::kTest);
  fs::create_directories(o.out);

  const StopRequests stop;  // Ctrl-C between two grid points stops the sweep too, with 130
  std::vector<SweepRow> rows;
  for (const SweepPoint& point : grid) {
    if (stop_signal() != 0) return kExitSignalBase + stop_signal();
    const std::string run_dir = (fs::path(o.out) / point.name).string();
    spdlog::info("sweep {}/{}: beta {}, rho {}", rows.size() + 1, grid.size(), point.config.beta,
                 point.config.rho);
    const PointState state = point_state(run_dir, point.config, o.force);
    if (state == PointState::kFinished) {
      spdlog::info("{} already finished; skipped", run_dir);
    } else {
      const auto run = state == PointState::kInterrupted
                           ? Run::resume(run_dir, point.config, device)
                           : Run::create(point.config, run_dir, /*force=*/true, device);
      const int code = train_to_end(*run, train, test, default_progress_style(common.quiet));
      if (code != 0) return code;
    }
    rows.push_back({point.config.beta, point.config.rho,
                    read_summary_json((fs::path(run_dir) / kSummaryFile).string())});
    if (stop_signal() != 0) return kExitSignalBase + stop_signal();
  }
  write_sweep_results(o.out, rows);
  spdlog::info("wrote {}/sweep.csv and {}/sweep.png", o.out, o.out);
  return 0;
}

}  // namespace

Command setup_sweep(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<SweepOptions>();
  CLI::App* cmd =
      app.add_subcommand("sweep", "train one run per (beta, rho); writes sweep.csv and sweep.png");
  cmd->add_option("--beta", options->betas, "beta values, e.g. 0,0.001,0.005,0.02")
      ->delimiter(',')
      ->check(kNonEmpty)
      ->required();
  cmd->add_option("--rho", options->rhos, "rho values, e.g. 0.01,0.05,0.1")
      ->delimiter(',')
      ->check(kNonEmpty)
      ->required();
  cmd->add_option("--out", options->out, "folder for the runs, sweep.csv and sweep.png")
      ->required();
  cmd->add_flag("--force", options->force,
                "train again the finished grid points whose settings differ from these");
  add_run_config_options(*cmd, options->base, {"beta", "rho"});
  add_common_options(*cmd, common);
  return {cmd, [options, &common] { return run_sweep(*options, common); }};
}

}  // namespace sae::commands
