#include "sae/run/sweep_shard.hpp"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/base/env.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/base/stopwatch.hpp"
#include "sae/store/file_names.hpp"
#include "sae/train/device.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace sae {
namespace {

constexpr int64_t kMaxTask = std::numeric_limits<int>::max();
// The exe this process runs, whatever its argv[0] says: a shard runs the very same binary.
constexpr const char* kThisProgram = "/proc/self/exe";

/// `args` without the options named in `drop` (as "--name value" or "--name=value").
std::vector<std::string> without_options(const std::vector<std::string>& args,
                                         const std::vector<std::string>& drop) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto named = [&](const std::string& name) {
      return args[i] == name || args[i].rfind(name + "=", 0) == 0;
    };
    if (const auto it = std::find_if(drop.begin(), drop.end(), named); it != drop.end()) {
      if (args[i] == *it) ++i;  // its value follows
      continue;
    }
    kept.push_back(args[i]);
  }
  return kept;
}

}  // namespace

SweepShard parse_shard(const std::string& text) {
  SweepShard shard;
  char slash = 0;
  std::istringstream in(text);
  // No spaces: istream would skip leading ones, and a flag that reads ' 1/2' hides a typo.
  if (text.find_first_of(" \t\n") != std::string::npos ||
      !(in >> shard.index >> slash >> shard.count) || slash != '/' || !in.eof() ||
      shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    throw UsageError(fmt::format("--shard {}: expected I/N with 0 <= I < N, e.g. 0/4", text));
  }
  return shard;
}

std::optional<SweepShard> slurm_array_shard() {
  const auto id_text = env_text("SLURM_ARRAY_TASK_ID");
  const auto count_text = env_text("SLURM_ARRAY_TASK_COUNT");
  if (!id_text || !count_text) return std::nullopt;
  const int64_t id = *env_integer("SLURM_ARRAY_TASK_ID", 0, kMaxTask);
  const int64_t count = *env_integer("SLURM_ARRAY_TASK_COUNT", 1, kMaxTask);
  const int64_t min = env_integer("SLURM_ARRAY_TASK_MIN", 0, kMaxTask).value_or(0);
  const int64_t step = env_integer("SLURM_ARRAY_TASK_STEP", 1, kMaxTask).value_or(1);
  const auto refused = [&](const std::string& why) {
    return UsageError(fmt::format("SLURM_ARRAY_TASK_ID={} and SLURM_ARRAY_TASK_COUNT={}: {}",
                                  *id_text, *count_text, why));
  };
  const int64_t offset = id - min;
  if (offset % step != 0) throw refused("the array is not evenly spaced; pass --shard I/N instead");
  try {
    return parse_shard(fmt::format("{}/{}", offset / step, count));
  } catch (const UsageError& e) {
    throw refused(e.what());
  }
}

SweepShard choose_shard(const std::string& flag) {
  if (!flag.empty()) return parse_shard(flag);
  return slurm_array_shard().value_or(SweepShard{});
}

std::vector<ProcessJob> shard_processes(const std::vector<std::string>& argv,
                                        const std::string& out, int jobs, int threads) {
  TORCH_CHECK(!argv.empty() && jobs >= 1 && threads >= 1, "shard_processes: ", argv.size(),
              " arguments, ", jobs, " jobs, ", threads, " threads");
  const std::vector<std::string> options =
      without_options({argv.begin() + 1, argv.end()}, {"--jobs", "--shard", "--threads"});
  std::vector<ProcessJob> processes;
  for (int i = 0; i < jobs; ++i) {
    ProcessJob job;
    job.name = fmt::format("sweep shard {}/{}", i, jobs);
    job.program = kThisProgram;
    job.argv.push_back(argv.front());
    job.argv.insert(job.argv.end(), options.begin(), options.end());
    job.argv.insert(job.argv.end(), {"--shard", fmt::format("{}/{}", i, jobs), "--threads",
                                     std::to_string(threads), "--jobs", "1"});
    job.log =
        (std::filesystem::path(out) / shard_log_file_name(static_cast<int64_t>(i), jobs)).string();
    processes.push_back(std::move(job));
  }
  return processes;
}

int train_shards_in_processes(const std::vector<std::string>& argv, const std::string& out,
                              int jobs, int threads, const std::vector<std::string>& point_dirs) {
  if (threads == 0) threads = cores_per_process(jobs);
  const std::vector<ProcessJob> shards = shard_processes(argv, out, jobs, threads);
  ::setenv(kSweepParentVariable, "1", /*overwrite=*/1);  // the children inherit it
  const Stopwatch stopwatch;
  std::vector<bool> done(point_dirs.size(), false);
  size_t finished = 0;
  const auto report_finished_points = [&] {
    for (size_t k = 0; k < point_dirs.size(); ++k) {
      const auto summary = std::filesystem::path(point_dirs[k]) / kSummaryFile;
      std::error_code ec;
      if (done[k] || !std::filesystem::exists(summary, ec)) continue;
      done[k] = true;
      spdlog::info("sweep: {}/{} points done ({} finished after {:.0f} s)", ++finished,
                   point_dirs.size(), std::filesystem::path(point_dirs[k]).filename().string(),
                   stopwatch.seconds());
    }
  };
  // Points finished by an earlier sweep are counted, not announced as new.
  for (size_t k = 0; k < point_dirs.size(); ++k) {
    std::error_code ec;
    done[k] = std::filesystem::exists(std::filesystem::path(point_dirs[k]) / kSummaryFile, ec);
    finished += done[k] ? 1 : 0;
  }
  if (finished > 0) spdlog::info("sweep: {} of {} points already finished", finished, done.size());
  const PoolOutcome outcome = run_process_pool(
      shards, jobs, stop_signal,
      [&](size_t i, pid_t pid) {
        spdlog::info("shard {}/{}: pid {}, {} threads, log {}", i, jobs, pid, threads,
                     shards[i].log);
      },
      report_finished_points);
  report_finished_points();
  if (outcome.passed_signal != 0) return kExitSignalBase + outcome.passed_signal;
  for (size_t i = 0; i < shards.size(); ++i) {
    if (outcome.exit_codes[i] != 0) {
      throw std::runtime_error(fmt::format("sweep shard {}/{} failed (exit {}); see {}", i, jobs,
                                           outcome.exit_codes[i], shards[i].log));
    }
  }
  return 0;
}

}  // namespace sae
