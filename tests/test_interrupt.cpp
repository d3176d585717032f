// Signals, each test in a child process of its own: install_signal_thread() blocks SIGINT and
// SIGTERM for the whole process, and a signal that ends the process must end only the child.
// The child reports by its exit code (no gtest assertions there) and leaves by _exit.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sae/base/interrupt.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sae {
namespace {

constexpr int kChildSeconds = 10;  // a child still alive then is killed by SIGALRM
constexpr int kStillAlive = 3;     // the exit code of a child that outlived what should end it

void sleep_ms(int ms) {
  ::usleep(static_cast<useconds_t>(ms) * 1000);
}

/// Waits up to `ms` for stop_signal() to report `signal`.
bool stop_signal_becomes(int signal, int ms) {
  for (int waited = 0; waited < ms; waited += 10) {
    if (stop_signal() == signal) return true;
    sleep_ms(10);
  }
  return stop_signal() == signal;
}

/// Runs `child` in a forked process, which exits with what it returns; returns its wait status.
int run_in_child(
    const std::function<int()>& child, const std::function<void()>& parent = [] {}) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    ::alarm(kChildSeconds);
    ::_exit(child());
  }
  parent();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "ended by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "status " + std::to_string(status);
}

bool exited_with(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

bool ended_by(int status, int signal) {
  return WIFSIGNALED(status) && WTERMSIG(status) == signal;
}

TEST(Interrupt, TheFirstSignalOnlyAsksForAStopWhileStopRequestsLives) {
  for (const int signal : {SIGINT, SIGTERM}) {
    const int status = run_in_child([signal] {
      install_signal_thread();
      const StopRequests stop;
      if (stop_signal() != 0) return 1;
      ::kill(::getpid(), signal);
      if (!stop_signal_becomes(signal, 2000)) return 2;
      sleep_ms(100);
      return stop_signal() == signal ? 0 : 4;
    });
    EXPECT_TRUE(exited_with(status, 0)) << strsignal(signal) << ": " << describe(status);
  }
}

TEST(Interrupt, ASecondSignalEndsTheProcessByThatSignal) {
  const int status = run_in_child([] {
    install_signal_thread();
    const StopRequests stop;
    ::kill(::getpid(), SIGINT);
    if (!stop_signal_becomes(SIGINT, 2000)) return 2;
    ::kill(::getpid(), SIGINT);
    sleep_ms(5000);
    return kStillAlive;
  });
  EXPECT_TRUE(ended_by(status, SIGINT)) << describe(status);
}

TEST(Interrupt, WithoutStopRequestsTheFirstSignalEndsTheProcess) {
  const int status = run_in_child([] {
    install_signal_thread();
    ::kill(::getpid(), SIGTERM);
    sleep_ms(5000);
    return kStillAlive;
  });
  EXPECT_TRUE(ended_by(status, SIGTERM)) << describe(status);

  // Nor once the scope is over.
  const int after_scope = run_in_child([] {
    install_signal_thread();
    { const StopRequests stop; }
    ::kill(::getpid(), SIGINT);
    sleep_ms(5000);
    return kStillAlive;
  });
  EXPECT_TRUE(ended_by(after_scope, SIGINT)) << describe(after_scope);
}

TEST(Interrupt, ACommitSectionDelaysTheEndUntilItIsOver) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0) << std::strerror(errno);
  char byte = 0;
  ssize_t got = -1;
  const int status = run_in_child(
      [&] {
        ::close(fds[0]);
        install_signal_thread();
        const StopRequests stop;
        {
          const CommitSection commit;
          ::kill(::getpid(), SIGINT);
          if (!stop_signal_becomes(SIGINT, 2000)) return 2;
          ::kill(::getpid(), SIGINT);  // would end the process, but for the commit
          sleep_ms(300);
          if (::write(fds[1], "c", 1) != 1) return 5;  // the commit completed
        }
        sleep_ms(5000);
        return kStillAlive;
      },
      [&] {
        ::close(fds[1]);
        while ((got = ::read(fds[0], &byte, 1)) < 0 && errno == EINTR) {
        }
        ::close(fds[0]);
      });
  EXPECT_EQ(got, 1) << "the child ended inside its CommitSection: " << describe(status);
  EXPECT_EQ(byte, 'c');
  EXPECT_TRUE(ended_by(status, SIGINT)) << describe(status);
}

/// The name and blocked signals (SigBlk) of one thread, as /proc/self/task/TID/status shows them.
struct ThreadMask {
  std::string name;
  unsigned long long blocked = 0;
};

std::vector<ThreadMask> every_threads_mask() {
  std::vector<ThreadMask> threads;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(task.path() / "status");
    ThreadMask thread;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Name:\t", 0) == 0) thread.name = line.substr(6);
      if (line.rfind("SigBlk:", 0) == 0) {
        thread.blocked = std::strtoull(line.c_str() + 7, nullptr, 16);
      }
    }
    threads.push_back(thread);
  }
  return threads;
}

TEST(Interrupt, ThreadsStartedAfterwardsInheritTheBlockedSignals) {
  const unsigned long long stop_bits = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1));
  ASSERT_EQ(stop_bits, (1ull << 1) | (1ull << 14));
  const int status = run_in_child([stop_bits] {
    install_signal_thread();
    std::atomic<bool> started{false}, done{false};
    std::thread worker([&] {
      started = true;
      while (!done) sleep_ms(5);
    });
    while (!started) sleep_ms(5);
    sleep_ms(50);  // the signal thread is in sigwait by now
    const auto threads = every_threads_mask();
    done = true;
    worker.join();
    if (threads.size() != 3) return 10 + static_cast<int>(threads.size());  // main, signals, worker
    int signal_threads = 0;
    for (const auto& thread : threads) {
      // The signal thread has them blocked too (sigwait requires it), but while it waits the
      // kernel lists the signals it waits for as unblocked.
      if (thread.name == "sae-signals") {
        ++signal_threads;
      } else if ((thread.blocked & stop_bits) != stop_bits) {
        return 2;
      }
    }
    return signal_threads == 1 ? 0 : 3;
  });
  EXPECT_TRUE(exited_with(status, 0))
      << describe(status)
      << " (1N: N threads instead of 3; 2: a thread other than the signal thread has SIGINT or "
         "SIGTERM open; 3: not exactly one thread named sae-signals)";
}

}  // namespace
}  // namespace sae
