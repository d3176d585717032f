// `sae sweep`: one run per (beta, rho), and the sparsity/quality trade-off at a glance.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/train/device.hpp"
#include "sae/base/errors.hpp"
#include "sae/data/dataset.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/report/pages.hpp"
#include "sae/run/run.hpp"
#include "sae/store/sweep_folder.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

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

/// A slice of the grid: the points k with k % count == index.
struct Shard {
  int index = 0;
  int count = 1;
};

/// "I/N" with 0 <= I < N, or a UsageError.
Shard parse_shard(const std::string& text) {
  Shard shard;
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

/// --shard, or a Slurm job array's task (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
/// SLURM_ARRAY_TASK_COUNT), or the whole grid.
Shard shard_of(const std::string& flag) {
  if (!flag.empty()) return parse_shard(flag);
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (id == nullptr || count == nullptr) return {};
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  const char* step = std::getenv("SLURM_ARRAY_TASK_STEP");  // --array=0-9:2
  const auto number = [](const char* text) {
    size_t used = 0;
    const int value = std::stoi(text, &used);
    if (text[used] != '\0') throw std::invalid_argument(fmt::format("'{}' is not a number", text));
    return value;
  };
  try {
    const int offset = number(id) - (min ? number(min) : 0);
    const int stride = step ? number(step) : 1;
    if (stride < 1 || offset % stride != 0) {
      throw std::invalid_argument("the array is not evenly spaced; pass --shard I/N instead");
    }
    return parse_shard(fmt::format("{}/{}", offset / stride, count));
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("SLURM_ARRAY_TASK_ID={} and SLURM_ARRAY_TASK_COUNT={}: {}", id,
                                 count, e.what()));
  }
}

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

/// Trains the grid as `jobs` processes at once, each this same command on one shard, with its
/// log in OUT/sweep-shard-I-of-N.log. Returns 0, or 128 + the signal that stopped them (passed
/// on to each); throws when a shard failed.
int run_jobs(const SweepOptions& o, const CommonOptions& common, int jobs) {
  const int threads = o.base.threads > 0 ? o.base.threads : std::max(1, available_cores() / jobs);
  std::vector<std::string> base = without_options({common.argv.begin() + 1, common.argv.end()},
                                                  {"--jobs", "--shard", "--threads"});
  struct Job {
    pid_t pid = -1;
    std::string log;
    int exit_code = -1;
  };
  std::vector<Job> running(static_cast<size_t>(jobs));
  for (int i = 0; i < jobs; ++i) {
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--shard", fmt::format("{}/{}", i, jobs), "--threads",
                             std::to_string(threads), "--jobs", "1"});
    Job& job = running[static_cast<size_t>(i)];
    job.log = (fs::path(o.out) / fmt::format("sweep-shard-{}-of-{}.log", i, jobs)).string();
    args.insert(args.begin(), common.argv[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    job.pid = fork();
    if (job.pid == 0) {
      setpgid(0, 0);  // a terminal's Ctrl-C reaches the parent alone, which passes it on once
      const int log = open(job.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log >= 0) dup2(log, STDERR_FILENO);
      execv("/proc/self/exe", argv.data());
      const char* why = std::strerror(errno);  // async-signal-safe enough: no allocation
      (void)!write(STDERR_FILENO, "sae sweep: cannot start this shard: ", 36);
      (void)!write(STDERR_FILENO, why, std::strlen(why));
      _exit(127);
    }
    if (job.pid < 0) {
      const int error = errno;
      for (const Job& started : running) {  // none is left training unsupervised
        if (started.pid > 0) {
          kill(started.pid, SIGTERM);
          waitpid(started.pid, nullptr, 0);
        }
      }
      throw std::runtime_error(
          fmt::format("cannot start a sweep process: {}", std::strerror(error)));
    }
    setpgid(job.pid, job.pid);  // also here: a Ctrl-C before the child's own call misses it
    spdlog::info("shard {}/{}: pid {}, {} threads, log {}", i, jobs, job.pid, threads, job.log);
  }
  int signal = 0;
  for (size_t left = running.size(); left > 0;) {
    if (signal == 0 && stop_signal() != 0) {
      signal = stop_signal();
      for (const Job& job : running) {
        if (job.exit_code < 0) kill(job.pid, signal);
      }
    }
    for (Job& job : running) {
      int status = 0;
      if (job.exit_code < 0 && waitpid(job.pid, &status, WNOHANG) == job.pid) {
        job.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (signal != 0) return kExitSignalBase + signal;
  for (size_t i = 0; i < running.size(); ++i) {
    if (running[i].exit_code != 0) {
      throw std::runtime_error(fmt::format("sweep shard {}/{} failed (exit {}); see {}", i, jobs,
                                           running[i].exit_code, running[i].log));
    }
  }
  return 0;
}

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
  const std::vector<SweepPoint> grid =
      sweep_grid(o.base, parse_number_list("--beta", fmt::format("{}", fmt::join(o.betas, ","))),
                 parse_number_list("--rho", fmt::format("{}", fmt::join(o.rhos, ","))));
  const Shard shard = shard_of(o.shard);
  if (o.jobs > 1 && shard.count > 1) {
    throw UsageError("--jobs N runs every shard of this machine's grid; drop --shard (or --jobs)");
  }
  const torch::Device device = apply({o.base.device, o.base.threads});
  // Data first: a bad data folder must not leave an empty sweep folder behind.
  const Dataset train = load_split(o.base.data_dir, Split::kTrain);
  const Dataset test = load_split(o.base.data_dir, Split::kTest);
  fs::create_directories(o.out);
  const StopRequests stop;  // Ctrl-C between two grid points stops the sweep too, with 130
  if (const int jobs = std::min(o.jobs, static_cast<int>(grid.size())); jobs > 1) {
    if (const int code = run_jobs(o, common, jobs); code != 0) return code;
    // Every point is finished now: the loop below only reads them and writes the table.
  }

  for (size_t k = 0; k < grid.size(); ++k) {
    if (static_cast<int>(k % static_cast<size_t>(shard.count)) != shard.index) continue;
    if (stop_signal() != 0) return kExitSignalBase + stop_signal();
    const SweepPoint& point = grid[k];
    const std::string run_dir = (fs::path(o.out) / point.name).string();
    spdlog::info("sweep {}/{}: beta {}, rho {}", k + 1, grid.size(), point.config.beta,
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
    if (stop_signal() != 0) return kExitSignalBase + stop_signal();
  }
  // The table needs every point: a shard writes it only once the other shards are done too.
  std::vector<SweepRow> rows;
  for (const SweepPoint& point : grid) {
    const fs::path summary = fs::path(o.out) / point.name / kSummaryFile;
    if (!fs::exists(summary)) {
      spdlog::info(
          "shard {}/{} done; {} is not finished yet, so sweep.csv waits: once every shard is "
          "done, run this sweep again without --shard to write it",
          shard.index, shard.count, point.name);
      return 0;
    }
    rows.push_back({point.config.beta, point.config.rho, read_summary_json(summary.string())});
  }
  write_sweep_results(o.out, rows);
  write_sweep_report(o.out);
  spdlog::info("wrote {}/sweep.csv, {}/sweep.png and {}/index.html", o.out, o.out, o.out);
  return 0;
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
