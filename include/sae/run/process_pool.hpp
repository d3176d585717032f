#pragma once
// Child processes run side by side, each in a process group of its own, with a stop signal passed
// on to them: how `sae sweep --jobs N` trains its shards.

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace sae {

/// One program to run as a child process.
struct ProcessJob {
  std::string name;               ///< what it is, for messages: "sweep shard 0/2"
  std::string program;            ///< the executable, e.g. /proc/self/exe
  std::vector<std::string> argv;  ///< its arguments, argv[0] (the name it sees itself by) first
  std::string log;                ///< its stderr goes to this file, truncated; empty: ours
};

/// How the jobs of a pool ended.
struct PoolOutcome {
  /// Per job, in order: its exit status, 128 + the signal that ended it, or -1 when a stop came
  /// before it started. A program that cannot be started exits 127, the reason in its log.
  std::vector<int> exit_codes;
  int passed_signal = 0;  ///< the stop signal passed on to the jobs, or 0
};

/// Runs `jobs`, at most `max_at_once` at a time, each in its own process group, so that a
/// terminal's Ctrl-C reaches this process alone. Once `stop_requested` returns a signal (it is
/// polled; stop_signal() in a command), passes it on once to every running job's process group,
/// starts no more and waits for the rest. `on_start` hears of each job started, `on_poll` is
/// called at every poll (to show progress). Throws when no process can be created, after ending
/// the ones started.
PoolOutcome run_process_pool(const std::vector<ProcessJob>& jobs, int max_at_once,
                             const std::function<int()>& stop_requested,
                             const std::function<void(size_t job, pid_t pid)>& on_start = {},
                             const std::function<void()>& on_poll = {});

}  // namespace sae
