#pragma once
// Ctrl-C and SIGTERM: during training, finish the batch, commit a checkpoint, say how to resume;
// never end the process in the middle of a checkpoint commit.

namespace sae {

/// Exit code of a process stopped by SIGINT or SIGTERM: 128 + the signal, as shells report it.
constexpr int kExitSignalBase = 128;

/// Blocks SIGINT and SIGTERM in the calling thread and starts one thread that receives them with
/// sigwait. Call it first thing in main(), before LibTorch starts its thread pools: threads
/// inherit the mask, so no other thread can be the one a signal interrupts. Without a
/// StopRequests scope, or on a second signal, the process ends by that signal, but only once no
/// CommitSection is alive.
void install_signal_thread();

/// The stop signal received while a StopRequests scope was alive (SIGINT or SIGTERM), else 0.
/// Stays set for the rest of the process, so a sweep's next grid point sees it too.
int stop_signal();

/// While alive, the first SIGINT/SIGTERM only asks for a stop (stop_signal() reports it).
class StopRequests {
 public:
  StopRequests();
  ~StopRequests();
  StopRequests(const StopRequests&) = delete;
  StopRequests& operator=(const StopRequests&) = delete;
};

/// While alive, a signal that ends the process waits until the section is over: the files of a
/// checkpoint are committed together or not at all.
class CommitSection {
 public:
  CommitSection();
  ~CommitSection();
  CommitSection(const CommitSection&) = delete;
  CommitSection& operator=(const CommitSection&) = delete;
};

}  // namespace sae
