#include "sae/run/process_pool.hpp"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sae/base/interrupt.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace sae {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr int kCannotExecute = 127;  // as shells report a command they could not start

/// Forks and execs `job` in a process group of its own: its pid, or -1 with errno set when no
/// process could be created.
pid_t start(const ProcessJob& job) {
  // All the child uses is made before fork(): in a threaded process, the child may call only
  // async-signal-safe functions, and allocating is not one.
  std::vector<std::string> args = job.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string cannot_start = fmt::format("sae: cannot start {}: ", job.name);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // a terminal's Ctrl-C reaches the parent alone, which passes it on once
    if (!job.log.empty()) {
      const int log = open(job.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log >= 0) dup2(log, STDERR_FILENO);
    }
    execv(job.program.c_str(), argv.data());
    const char* why = std::strerror(errno);  // async-signal-safe enough: no allocation
    (void)!write(STDERR_FILENO, cannot_start.data(), cannot_start.size());
    (void)!write(STDERR_FILENO, why, std::strlen(why));
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(kCannotExecute);
  }
  if (pid > 0) setpgid(pid, pid);  // also here: a Ctrl-C before the child's own call misses it
  return pid;
}

/// An exit status as a shell reports it: the code, or 128 + the signal that ended the process.
int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : kExitSignalBase + WTERMSIG(status);
}

}  // namespace

PoolOutcome run_process_pool(const std::vector<ProcessJob>& jobs, int max_at_once,
                             const std::function<int()>& stop_requested,
                             const std::function<void(size_t job, pid_t pid)>& on_start,
                             const std::function<void()>& on_poll) {
  TORCH_CHECK(max_at_once >= 1, "run_process_pool: max_at_once must be >= 1, got ", max_at_once);
  PoolOutcome outcome;
  outcome.exit_codes.assign(jobs.size(), -1);
  std::vector<pid_t> pids(jobs.size(), -1);
  const auto is_running = [&](size_t i) { return pids[i] > 0 && outcome.exit_codes[i] < 0; };
  size_t started = 0;
  int running = 0;
  for (;;) {
    if (outcome.passed_signal == 0) {
      if (const int signal = stop_requested(); signal != 0) {
        outcome.passed_signal = signal;
        for (size_t i = 0; i < started; ++i) {
          if (is_running(i)) kill(-pids[i], signal);
        }
      }
    }
    while (outcome.passed_signal == 0 && started < jobs.size() && running < max_at_once) {
      const pid_t pid = start(jobs[started]);
      if (pid < 0) {
        const int error = errno;
        for (size_t i = 0; i < started; ++i) {  // none is left running unsupervised
          if (is_running(i)) {
            kill(-pids[i], SIGTERM);
            waitpid(pids[i], nullptr, 0);
          }
        }
        throw std::runtime_error(
            fmt::format("cannot start {}: {}", jobs[started].name, std::strerror(error)));
      }
      pids[started] = pid;
      ++running;
      if (on_start) on_start(started, pid);
      ++started;
    }
    if (running == 0 && (started == jobs.size() || outcome.passed_signal != 0)) return outcome;
    std::this_thread::sleep_for(kPollInterval);
    if (on_poll) on_poll();
    for (size_t i = 0; i < started; ++i) {
      int status = 0;
      if (is_running(i) && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        outcome.exit_codes[i] = exit_code(status);
        --running;
      }
    }
  }
}

}  // namespace sae
