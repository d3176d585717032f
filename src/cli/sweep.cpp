// `sae sweep`: one run per (beta, rho), and the sparsity/quality trade-off at a glance.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/data/dataset.hpp"
#include "sae/run/sweep.hpp"
#include "sae/run/sweep_shard.hpp"
#include "sae/train/device.hpp"

#include <algorithm>
#include <filesystem>

namespace sae::commands {
namespace {

namespace fs = std::filesystem;

struct SweepOptions {
  RunConfig base;                  // everything but beta and rho
  std::vector<std::string> betas;  // "0,0.001,0.005", or repeated: parse_number_list
  std::vector<std::string> rhos;
  std::string out;     // one run folder per grid point, sweep.csv and sweep.png
  bool force = false;  // retrain finished points whose settings differ
  int jobs = 1;        // grid points trained at once, as separate processes
  std::string shard;   // "I/N": only the points k with k % N == I (empty: all, or Slurm's array)
};

int run_sweep(const SweepOptions& o, const CommonOptions& common) {
  const std::vector<SweepPoint> grid =
      sweep_grid(o.base, parse_number_list("--beta", fmt::format("{}", fmt::join(o.betas, ","))),
                 parse_number_list("--rho", fmt::format("{}", fmt::join(o.rhos, ","))));
  const SweepShard shard = choose_shard(o.shard);
  if (o.jobs > 1 && shard.count > 1) {
    throw UsageError("--jobs N runs every shard of this machine's grid; drop --shard (or --jobs)");
  }
  const torch::Device device = resolve_device(o.base.device);
  set_threads(o.base.threads);
  // Data first: a bad data folder must not leave an empty sweep folder behind.
  const Dataset train = load_split(o.base.data_dir, Split::kTrain);
  const Dataset test = load_split(o.base.data_dir, Split::kTest);
  fs::create_directories(o.out);
  const StopRequests stop;  // Ctrl-C between two grid points stops the sweep too, with 130
  if (const int jobs = std::min(o.jobs, static_cast<int>(grid.size())); jobs > 1) {
    const int code = train_shards_in_processes(common.argv, o.out, jobs, o.base.threads);
    if (code != 0) return code;
    // Every point is finished now: the loop below only reads them and writes the table.
  }

  return train_sweep(grid, shard, o.out, o.force, train, test, device,
                     default_progress_style(common.quiet));
}

}  // namespace

Command setup_sweep(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<SweepOptions>();
  CLI::App* cmd =
      app.add_subcommand("sweep", "train one run per (beta, rho); writes sweep.csv and sweep.png");
  cmd->add_option("--beta", options->betas, "beta values, e.g. 0,0.001,0.005,0.02")
      ->type_name("LIST")
      ->required();
  cmd->add_option("--rho", options->rhos, "rho values, e.g. 0.01,0.05,0.1")
      ->type_name("LIST")
      ->required();
  cmd->add_option("--out", options->out, "folder for the runs, sweep.csv and sweep.png")
      ->required();
  cmd->add_flag("--force", options->force,
                "train again the finished grid points whose settings differ from these");
  cmd->add_option("--jobs", options->jobs,
                  "grid points trained at once, each in its own process with cores/N threads "
                  "unless --threads says otherwise")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--shard", options->shard,
                  "I/N: train only grid points k with k % N == I (0 <= I < N), e.g. one per "
                  "machine or Slurm array task (default: SLURM_ARRAY_TASK_ID of "
                  "SLURM_ARRAY_TASK_COUNT when set)");
  add_run_config_options(*cmd, options->base, {"beta", "rho"});
  add_common_options(*cmd, common);
  return {cmd, [options, &common] { return run_sweep(*options, common); }};
}

}  // namespace sae::commands
