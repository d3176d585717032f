#pragma once
// A sweep taken to its end in this process: each grid point of the shard trained, resumed, or
// skipped when finished, then sweep.csv, sweep.png and index.html once every point is finished.

#include <torch/torch.h>

#include "sae/base/progress.hpp"
#include "sae/data/dataset.hpp"
#include "sae/run/sweep_shard.hpp"
#include "sae/store/sweep_folder.hpp"

#include <string>
#include <vector>

namespace sae {

/// What becomes of a grid point's folder.
enum class PointState { kFinished, kInterrupted, kNew };

/// The state of grid-point folder `run_dir` for the settings asked for now. A run counts only if
/// it was trained with them: one with other settings is a UsageError, or kNew under `force`.
PointState point_state(const std::string& run_dir, const RunConfig& asked, bool force);

/// Trains the points of `grid` that `shard` holds, one folder each in `out`, then writes the
/// sweep's table, plot and page once every point of the grid is finished. Returns 0, a run's
/// exit code, or 128 + the signal that stopped it between two points.
int train_sweep(const std::vector<SweepPoint>& grid, const SweepShard& shard,
                const std::string& out, bool force, const Dataset& train, const Dataset& test,
                const torch::Device& device, ProgressStyle style);

/// Writes the sweep's table, plot and page from the finished points of `grid` in `out`, or, while
/// a point is unfinished, says what `shard` leaves to do. Returns 0.
int write_sweep_table(const std::vector<SweepPoint>& grid, const SweepShard& shard,
                      const std::string& out);

}  // namespace sae
