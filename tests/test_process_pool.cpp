// The process pool behind `sae sweep --jobs N` (sae/run/process_pool.hpp), on /bin/sh jobs that
// end within a fraction of a second: exit statuses, the bound on jobs at once, logs, and a stop
// signal passed on to each job's whole process group.

#include <gtest/gtest.h>
#include <unistd.h>

#include "sae/run/process_pool.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace sae {
namespace {

/// `sh -c script` as a job, its stderr into `log` when given.
ProcessJob shell_job(const std::string& script, const std::string& log = "") {
  return {"test job", "/bin/sh", {"sh", "-c", script}, log};
}

/// A stop that never comes.
int no_stop() {
  return 0;
}

/// Whether process `pid` is gone or a zombie, i.e. no longer runs.
bool has_ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, command, state;
  if (!(stat >> pid_field >> command >> state)) return true;
  return state == "Z" || state == "X";
}

TEST(ProcessPool, ReportsEachJobsExitStatus) {
  std::vector<size_t> started;
  const PoolOutcome outcome =
      run_process_pool({shell_job("exit 0"), shell_job("exit 3"), shell_job("kill -9 $$")}, 3,
                       no_stop, [&](size_t job, pid_t) { started.push_back(job); });
  EXPECT_EQ(outcome.exit_codes, (std::vector<int>{0, 3, 128 + SIGKILL}));
  EXPECT_EQ(outcome.passed_signal, 0);
  EXPECT_EQ(started, (std::vector<size_t>{0, 1, 2}));
}

TEST(ProcessPool, RunsAtMostMaxAtOnce) {
  // At each start, the jobs started before and not yet reaped by the pool still exist (a zombie
  // too answers kill(pid, 0)): with a bound of 2, never more than 2 of them.
  std::vector<pid_t> pids;
  int most = 0;
  const auto count_running = [&](size_t, pid_t pid) {
    pids.push_back(pid);
    const int alive = static_cast<int>(
        std::count_if(pids.begin(), pids.end(), [](pid_t p) { return kill(p, 0) == 0; }));
    most = std::max(most, alive);
  };
  const std::vector<ProcessJob> jobs(5, shell_job("sleep 0.05"));
  const PoolOutcome outcome = run_process_pool(jobs, 2, no_stop, count_running);
  EXPECT_EQ(outcome.exit_codes, std::vector<int>(5, 0));
  EXPECT_EQ(pids.size(), 5u);
  EXPECT_EQ(most, 2);
}

TEST(ProcessPool, EachJobsStderrGoesToItsLog) {
  test::TempDir dir;
  const PoolOutcome outcome = run_process_pool(
      {shell_job("echo to the log >&2", dir / "ran.log"),
       {"missing program", "/nonexistent/program", {"program"}, dir / "missing.log"}},
      2, no_stop);
  EXPECT_EQ(outcome.exit_codes, (std::vector<int>{0, 127}));
  EXPECT_EQ(test::read_text(dir / "ran.log"), "to the log\n");
  EXPECT_EQ(test::read_text(dir / "missing.log"),
            "sae: cannot start missing program: No such file or directory\n");
}

TEST(ProcessPool, AStopReachesEveryProcessOfARunningJobAndStartsNoMore) {
  // Each job's shell waits for a child of its own: a signal to the shell alone would leave that
  // child running for 5 s.
  test::TempDir dir;
  std::vector<ProcessJob> jobs;
  for (int i = 0; i < 3; ++i) {
    jobs.push_back(
        shell_job("sleep 5 & echo $! > " + dir / ("child" + std::to_string(i)) + "; wait"));
  }
  const auto child_pid = [&](int i) {
    const std::string text = test::read_text(dir / ("child" + std::to_string(i)));
    return text.find('\n') == std::string::npos ? pid_t{0} : static_cast<pid_t>(std::stoi(text));
  };
  const auto begin = std::chrono::steady_clock::now();
  const auto stop_once_both_wait = [&] {
    const bool waiting = child_pid(0) > 0 && child_pid(1) > 0;
    return waiting || std::chrono::steady_clock::now() - begin > std::chrono::seconds(2) ? SIGTERM
                                                                                         : 0;
  };
  const PoolOutcome outcome = run_process_pool(jobs, 2, stop_once_both_wait);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(1));
  EXPECT_EQ(outcome.passed_signal, SIGTERM);
  // The third never started: the stop came while the first two ran.
  EXPECT_EQ(outcome.exit_codes, (std::vector<int>{128 + SIGTERM, 128 + SIGTERM, -1}));
  for (int i = 0; i < 2; ++i) {
    const pid_t child = child_pid(i);
    ASSERT_GT(child, 0) << "job " << i << " did not start its child";
    for (int waited = 0; waited < 100 && !has_ended(child); ++waited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(has_ended(child)) << "job " << i << "'s child outlived the stop";
    if (!has_ended(child)) kill(child, SIGKILL);
  }
}

}  // namespace
}  // namespace sae
