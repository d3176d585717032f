#include "sae/run/sweep.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "sae/base/errors.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/report/pages.hpp"
#include "sae/run/run.hpp"
#include "sae/run/sweep_shard.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/store/file_names.hpp"

#include <cstdlib>
#include <filesystem>

namespace sae {
namespace {

namespace fs = std::filesystem;

}  // namespace

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

int train_sweep(const std::vector<SweepPoint>& grid, const SweepShard& shard,
                const std::string& out, bool force, const Dataset& train, const Dataset& test,
                const torch::Device& device, ProgressStyle style) {
  for (size_t k = 0; k < grid.size(); ++k) {
    if (!shard.contains(k)) continue;
    if (stop_signal() != 0) return kExitSignalBase + stop_signal();
    const SweepPoint& point = grid[k];
    const std::string run_dir = (fs::path(out) / point.name).string();
    spdlog::info("sweep {}/{}: {}", k + 1, grid.size(), describe_point(point.config));
    const PointState state = point_state(run_dir, point.config, force);
    if (state == PointState::kFinished) {
      spdlog::info("{} already finished; skipped", run_dir);
    } else {
      const auto run = state == PointState::kInterrupted
                           ? Run::resume(run_dir, point.config, device)
                           : Run::create(point.config, run_dir, /*force=*/true, device);
      const int code = train_to_end(*run, split_run_data(train, test, point.config), style);
      if (code != 0) return code;
    }
    if (stop_signal() != 0) return kExitSignalBase + stop_signal();
  }
  return write_sweep_table(grid, shard, out);
}

int write_sweep_table(const std::vector<SweepPoint>& grid, const SweepShard& shard,
                      const std::string& out) {
  // The table needs every point: a shard writes it only once the other shards are done too.
  std::vector<SweepRow> rows;
  for (const SweepPoint& point : grid) {
    const fs::path summary = fs::path(out) / point.name / kSummaryFile;
    if (!fs::exists(summary)) {
      const char* then =
          std::getenv(kSweepParentVariable) != nullptr
              ? "the sweep --jobs that started this shard writes it once every shard is done"
          : std::getenv("SLURM_ARRAY_TASK_ID") != nullptr
              ? "once every array task is done, run this sweep again outside the job array to "
                "write it"
              : "once every shard is done, run this sweep again without --shard to write it";
      spdlog::info("shard {}/{} done; {} is not finished yet, so sweep.csv waits: {}", shard.index,
                   shard.count, point.name, then);
      return 0;
    }
    rows.push_back({point.config, read_summary_json(summary.string())});
  }
  write_sweep_results(out, rows);
  write_sweep_report(out);
  spdlog::info("wrote {}/{}, {}/{} and {}/{}", out, kSweepCsvFile, out, kSweepPlotFile, out,
               kSweepReportFile);
  return 0;
}

}  // namespace sae
