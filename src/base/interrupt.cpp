#include "sae/base/interrupt.hpp"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

namespace sae {
namespace {

std::mutex g_mutex;
std::condition_variable g_commit_done;
int g_stop_scopes = 0;      // live StopRequests
int g_commit_sections = 0;  // live CommitSections
std::atomic<int> g_received{0};
constexpr const char* kThreadName = "sae-signals";

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

/// Ends the process by `signal`, as if it had never been blocked, so the parent sees the signal.
[[noreturn]] void die_by(int signal) {
  std::signal(signal, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  raise(signal);
  std::_Exit(kExitSignalBase + signal);  // not reached: the default action ends the process
}

void receive_signals() {
  // Named, so that a look at /proc/PID/task shows which thread waits for the signals: while it
  // waits in sigwait, the kernel lists them as unblocked for it alone.
  pthread_setname_np(pthread_self(), kThreadName);
  const sigset_t set = stop_signals();
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    std::unique_lock<std::mutex> lock(g_mutex);
    if (g_stop_scopes > 0 && g_received == 0) {
      g_received = signal;  // the training loop stops at the next batch boundary
      continue;
    }
    g_commit_done.wait(lock, [] { return g_commit_sections == 0; });
    die_by(signal);
  }
}

}  // namespace

void install_signal_thread() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(receive_signals).detach();
}

int stop_signal() {
  return g_received;
}

StopRequests::StopRequests() {
  std::lock_guard<std::mutex> lock(g_mutex);
  ++g_stop_scopes;
}

StopRequests::~StopRequests() {
  std::lock_guard<std::mutex> lock(g_mutex);
  --g_stop_scopes;
}

CommitSection::CommitSection() {
  std::lock_guard<std::mutex> lock(g_mutex);
  ++g_commit_sections;
}

CommitSection::~CommitSection() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    --g_commit_sections;
  }
  g_commit_done.notify_all();
}

}  // namespace sae
