#pragma once
// A sweep's grid in slices: --shard I/N, a Slurm job array's task, and --jobs N, which trains
// each of N slices in a process of its own.

#include "sae/run/process_pool.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sae {

/// A slice of a sweep's grid: the points k with k % count == index.
struct SweepShard {
  int index = 0;
  int count = 1;
  /// Whether grid point `k` is in this slice.
  bool contains(size_t k) const {
    return k % static_cast<size_t>(count) == static_cast<size_t>(index);
  }
};

/// --shard's "I/N", with 0 <= I < N and no spaces; a UsageError otherwise.
SweepShard parse_shard(const std::string& text);

/// A Slurm job array's task as a shard: (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /
/// SLURM_ARRAY_TASK_STEP of SLURM_ARRAY_TASK_COUNT (--array=0-9:2 steps by 2); nullopt unless
/// both the ID and the COUNT are set. A UsageError on values that make no shard.
std::optional<SweepShard> slurm_array_shard();

/// The slice this process trains: --shard's `flag` when given, else the Slurm array task's, else
/// the whole grid.
SweepShard choose_shard(const std::string& flag);

/// `sae sweep --jobs N`'s processes: the command line `argv` (argv[0] first) again, once per
/// shard I of `jobs`, with --shard I/N, --threads `threads` and --jobs 1 in place of the user's,
/// each logging to `out`/sweep-shard-I-of-N.log.
std::vector<ProcessJob> shard_processes(const std::vector<std::string>& argv,
                                        const std::string& out, int jobs, int threads);

/// The environment variable a shard started by `sae sweep --jobs` finds set: its shard is not the
/// user's --shard, and the parent writes the table.
inline constexpr const char* kSweepParentVariable = "SAE_SWEEP_PARENT";

/// Trains a sweep as `jobs` processes at once (shard_processes), with `threads` threads each (0:
/// this machine's cores shared among them), logging each grid point of `point_dirs` as its
/// summary.json appears. Returns 0 once every one has succeeded, or 128 + the stop signal passed
/// on to them; throws when a shard failed, naming its log.
int train_shards_in_processes(const std::vector<std::string>& argv, const std::string& out,
                              int jobs, int threads, const std::vector<std::string>& point_dirs);

}  // namespace sae
