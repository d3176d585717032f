// Interrupting the real binary (signals, SIGKILL), resuming it, locking and reproducibility, end
// to end.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sae/base/atomic_file.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/run/run.hpp"
#include "sae/store/run_folder.hpp"
#include "test_util.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::run_sae;
using test::spawn_sae;

/// The metric columns of metrics.csv (all but seconds and images/s, which are timings).
std::string metric_columns(const std::string& csv_path) {
  std::istringstream in(read_text(csv_path));
  std::string out, line;
  while (std::getline(in, line)) {
    size_t cut = line.size();
    for (int i = 0; i < 2; ++i) cut = line.rfind(',', cut - 1);
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

void expect_same_weights(const std::string& a_path, const std::string& b_path) {
  auto a = load_model(a_path, torch::kCPU);
  auto b = load_model(b_path, torch::kCPU);
  const auto b_params = b->named_parameters();
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b_params[p.key()])) << p.key();
  }
}

/// Waits until `path` contains `needle` (or 30 s pass).
void wait_for_text(const std::string& path, const std::string& needle) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (read_text(path).find(needle) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

class Resume : public ::testing::Test {
 protected:
  std::vector<std::string> train_args(const std::string& run, const char* epochs = "3",
                                      const char* threads = "1") const {
    return {"train",     "--data-dir", data_,          "--out", run,      "--epochs", epochs,
            "--threads", threads,      "--batch-size", "50",    "--seed", "7"};
  }
  std::string data_ = test::shared_data(1500, 100);
  test::TempDir tmp_;
};

TEST_F(Resume, SameSeedSameThreadsSameMetricsAndByteIdenticalModels) {
  for (const char* run : {"a", "b"}) {
    const auto r = run_sae(train_args(tmp_ / run));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string a = metric_columns(tmp_ / "a/metrics.csv");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 4);  // header + 3 epochs
  EXPECT_EQ(a, metric_columns(tmp_ / "b/metrics.csv"));
  // The archive's inner name no longer comes from a temporary file: checksums of equal models
  // match.
  EXPECT_EQ(read_text(tmp_ / "a/model.pt"), read_text(tmp_ / "b/model.pt"));
}

TEST_F(Resume, SignalsAreBlockedInEveryThreadSoOnlyTheSignalThreadTakesThem) {
  const std::string err = tmp_ / "err";
  const pid_t pid = spawn_sae(train_args(tmp_ / "run", "50", "2"), err);
  wait_for_text(err, "run folder");
  int threads = 0;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    // The thread in sigwait is the one the kernel shows with them unblocked while it waits.
    if (read_text(task.path().string() + "/comm") == "sae-signals\n") continue;
    std::istringstream status(read_text(task.path().string() + "/status"));
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) != 0) continue;
      const unsigned long long blocked = std::stoull(line.substr(7), nullptr, 16);
      const unsigned long long stop = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1));
      EXPECT_EQ(blocked & stop, stop) << task.path() << ": " << line;
      ++threads;
    }
  }
  EXPECT_GE(threads, 2);  // main and LibTorch's worker
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST_F(Resume, SigintSavesACheckpointAndResumeEndsWhereAnUninterruptedRunDoes) {
  const auto straight = run_sae(train_args(tmp_ / "straight", "3", "2"));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;

  for (const int signal : {SIGINT, SIGTERM}) {
    const std::string run = tmp_ / ("run" + std::to_string(signal));
    const std::string err = tmp_ / ("err" + std::to_string(signal));
    const pid_t pid = spawn_sae(train_args(run, "3", "2"), err);
    wait_for_text(err, "run folder");  // training has begun
    kill(pid, signal);
    int status = 0;
    waitpid(pid, &status, 0);
    const std::string log = read_text(err);
    ASSERT_TRUE(WIFEXITED(status)) << log;
    ASSERT_EQ(WEXITSTATUS(status), 128 + signal) << log;
    EXPECT_NE(log.find("continue with: sae train --resume " + run), std::string::npos) << log;
    for (const auto& entry : fs::directory_iterator(run)) {
      EXPECT_FALSE(is_temporary_file_name(entry.path().filename().string())) << entry.path();
    }
    EXPECT_LT(read_checkpoint(run).cursor.epoch, 3) << "interrupted too late: " << log;

    const auto resumed = run_sae({"train", "--resume", run, "--quiet"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    expect_same_weights(tmp_ / "straight/model.pt", run + "/model.pt");
    EXPECT_EQ(metric_columns(tmp_ / "straight/metrics.csv"), metric_columns(run + "/metrics.csv"));
  }
}

TEST_F(Resume, AMidEpochResumeRefusesAnotherSeedDataOrBatchSizeAndAnotherOut) {
  const std::string dir = tmp_ / "run";
  {
    // Interrupted after 3 batches of epoch 1, committed, lock released.
    RunConfig config;
    config.data_dir = data_;
    config.batch_size = 50;
    config.seed = 7;
    config.threads = 1;
    auto run = Run::create(config, dir, /*force=*/false, torch::kCPU);
    const Dataset train = load_split(data_, Split::kTrain);
    int batches = 0;
    ASSERT_FALSE(run->train_epoch(train, ProgressStyle::kNone, [&] { return ++batches == 3; }));
    run->save();
  }
  ASSERT_EQ(read_checkpoint(dir).cursor.batches, 3);
  test::expect_clean_failure(run_sae({"train", "--resume", dir, "--seed", "8"}),
                             "epoch 1 was interrupted with --seed 7");
  test::expect_clean_failure(run_sae({"train", "--resume", dir, "--batch-size", "20"}),
                             "--batch-size 50");
  test::expect_clean_failure(run_sae({"train", "--resume", dir, "--data-dir", tmp_ / "other"}),
                             "--data-dir");
  test::expect_clean_failure(run_sae({"train", "--resume", dir, "--out", tmp_ / "elsewhere"}),
                             "drop --out");
  EXPECT_FALSE(fs::exists(tmp_ / "elsewhere"));
  test::expect_clean_failure(run_sae({"train", "--resume", dir, "--epochs", "0"}), "--epochs");
  // Other settings may change; the same seed continues. (Adam is built from the config's lr;
  // loading its state restores moments and steps, not the options.)
  const auto resumed = run_sae({"train", "--resume", dir, "--epochs", "1", "--lr", "0.002"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_checkpoint(dir).config.lr, 0.002);
}

TEST_F(Resume, ASecondWriterIsRefusedWithTheHoldersPid) {
  ASSERT_EQ(run_sae(train_args(tmp_ / "run", "1")).exit_code, 0);
  const RunLock held(tmp_ / "run");  // as a training process would hold it
  const std::string holder = "pid " + std::to_string(getpid());
  test::expect_clean_failure(run_sae({"train", "--resume", tmp_ / "run", "--epochs", "2"}), holder);
  auto forced = train_args(tmp_ / "run", "1");
  forced.push_back("--force");
  test::expect_clean_failure(run_sae(forced), holder);
  EXPECT_TRUE(fs::exists(tmp_ / "run/summary.json"));  // untouched
}

TEST_F(Resume, ARunKilledBeforeItsFirstCommitResumesFromTheStart) {
  const auto straight = run_sae(train_args(tmp_ / "straight", "2"));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const std::string run = tmp_ / "run";
  const pid_t pid = spawn_sae(train_args(run, "2"), tmp_ / "err");
  wait_for_text(tmp_ / "err", "run folder");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  // Plain rerun is refused (the folder holds a run); --resume continues or starts it over.
  test::expect_clean_failure(run_sae(train_args(run, "2")), "--resume");
  const auto resumed = run_sae({"train", "--resume", run, "--quiet"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(metric_columns(tmp_ / "straight/metrics.csv"), metric_columns(run + "/metrics.csv"));
  expect_same_weights(tmp_ / "straight/model.pt", run + "/model.pt");
}

TEST_F(Resume, ARunWhoseManifestWasLostIsNotStartedOver) {
  ASSERT_EQ(run_sae(train_args(tmp_ / "run", "1")).exit_code, 0);
  fs::remove(tmp_ / "run/checkpoint.json");
  test::expect_clean_failure(run_sae({"train", "--resume", tmp_ / "run", "--epochs", "2"}),
                             "checkpoint.json is missing");
  EXPECT_TRUE(fs::exists(tmp_ / "run/model.pt"));
  EXPECT_NE(read_text(tmp_ / "run/metrics.csv").find("\n1,"), std::string::npos);
}

TEST_F(Resume, ResumeCanExtendAFinishedRun) {
  ASSERT_EQ(run_sae(train_args(tmp_ / "run", "1")).exit_code, 0);
  test::expect_clean_failure(run_sae({"train", "--resume", tmp_ / "run"}),
                             "already finished 1 of 1 epochs");
  // A run whose final stage (pictures, probe, summary) never ran gets just that stage.
  fs::remove(tmp_ / "run/summary.json");
  fs::remove(tmp_ / "run/atoms.png");
  const std::string model_before = read_text(tmp_ / "run/model.pt");
  const auto finish = run_sae({"train", "--resume", tmp_ / "run", "--quiet"});
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  EXPECT_TRUE(fs::exists(tmp_ / "run/summary.json"));
  EXPECT_TRUE(fs::exists(tmp_ / "run/atoms.png"));
  EXPECT_EQ(read_text(tmp_ / "run/model.pt"), model_before);  // no further training
  const auto more = run_sae({"train", "--resume", tmp_ / "run", "--epochs", "2", "--quiet"});
  ASSERT_EQ(more.exit_code, 0) << more.err;
  EXPECT_EQ(read_checkpoint(tmp_ / "run").cursor.epoch, 2);
  EXPECT_NE(read_text(tmp_ / "run/metrics.csv").find("\n2,"), std::string::npos);
  test::expect_clean_failure(run_sae({"train", "--resume", tmp_ / "nowhere"}), "nowhere");
}

TEST_F(Resume, ForceStartsOverCleanAndResumeSweepsLeftovers) {
  auto args = train_args(tmp_ / "run", "1");
  ASSERT_EQ(run_sae(args).exit_code, 0);
  const std::string before = read_text(tmp_ / "run/metrics.csv");
  test::expect_clean_failure(run_sae(args), "--force");
  EXPECT_EQ(read_text(tmp_ / "run/metrics.csv"), before);

  // What a crash leaves: a temporary file, an uncommitted step file, an old run's picture.
  for (const char* leftover : {"model.tmpAb12Cd.pt", "optimizer-00099999.pt", "pair_0003.png"}) {
    std::ofstream(tmp_ / ("run/" + std::string(leftover))) << "x";
  }
  ASSERT_EQ(run_sae({"train", "--resume", tmp_ / "run", "--epochs", "2", "--quiet"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp_ / "run/model.tmpAb12Cd.pt"));
  EXPECT_FALSE(fs::exists(tmp_ / "run/optimizer-00099999.pt"));
  args.push_back("--force");
  ASSERT_EQ(run_sae(args).exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp_ / "run/pair_0003.png"));  // the old run's files are gone
  EXPECT_EQ(read_checkpoint(tmp_ / "run").cursor.epoch, 1);
}

TEST_F(Resume, TwoDefaultRunFoldersStartedTogetherDoNotCollide) {
  const std::string cwd = fs::current_path();
  std::vector<pid_t> pids;
  const std::vector<std::string> args = {"train", "--data-dir", data_, "--epochs",
                                         "1",     "--threads",  "1",   "--quiet"};
  fs::current_path(tmp_.path());
  for (int i = 0; i < 2; ++i) pids.push_back(spawn_sae(args, tmp_ / ("err" + std::to_string(i))));
  fs::current_path(cwd);
  for (const pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  int runs = 0;
  for (const auto& entry : fs::directory_iterator(tmp_ / "runs")) {
    EXPECT_TRUE(fs::exists(entry.path() / "summary.json")) << entry.path();
    ++runs;
  }
  EXPECT_EQ(runs, 2);
}

/// How a crash-safety trial ends its run.
enum class Crash { kKillAnytime, kTwoSigints, kKillBetweenWrites };

/// Waits until the `commit`-th optimizer step file of `run` has landed (the manifest that names it
/// is written next), or the process ended; true when it landed.
bool wait_for_commit_files(const std::string& run, pid_t pid, size_t commit) {
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen.size() < commit && std::chrono::steady_clock::now() < deadline) {
    if (kill(pid, 0) != 0) return false;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(run, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("optimizer-", 0) == 0 && !is_temporary_file_name(name)) seen.insert(name);
    }
  }
  return seen.size() >= commit;
}

/// Crash safety: SIGKILL at a random moment, two SIGINTs in a row at a random moment, or SIGKILL
/// right between two file writes of a commit (the optimizer file landed, the manifest not yet);
/// then resume until done. Every trial must end exactly where the uninterrupted run does, and no
/// checkpoint is ever torn. SAE_CRASH_TRIALS sets the number of trials (scripts/crash-test.sh
/// runs 45).
TEST(CrashSafety, KillsAndDoubleInterruptsAtRandomMomentsNeverTearACheckpoint) {
  // Two threads per run, as the defect needed; passive waiting keeps them from starving each
  // other when the tests run in parallel (spinning OpenMP threads slow 50-fold under contention).
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  const char* env = std::getenv("SAE_CRASH_TRIALS");
  const int trials = env ? std::atoi(env) : 6;
  const std::string data = test::shared_data(1000, 100);
  test::TempDir tmp;
  const auto args = [&](const std::string& run) {
    return std::vector<std::string>{"train",    "--data-dir", data,        "--out",  run,
                                    "--epochs", "2",          "--threads", "2",      "--batch-size",
                                    "50",       "--seed",     "3",         "--quiet"};
  };
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_sae(args(tmp / "straight")).exit_code, 0);
  const double run_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  std::mt19937 rng(12345);
  int between_writes = 0;  // kills that found a step file its manifest did not name yet
  for (int trial = 0; trial < trials; ++trial) {
    const std::string run = tmp / ("trial" + std::to_string(trial));
    const auto crash = static_cast<Crash>(trial % 3);
    const int delay_ms = std::uniform_int_distribution<int>(0, static_cast<int>(run_ms))(rng);
    const pid_t pid = spawn_sae(args(run), tmp / "err");
    if (crash == Crash::kKillBetweenWrites) {
      wait_for_commit_files(run, pid, 1 + trial % 2);  // the first or the second epoch's commit
      kill(pid, SIGKILL);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      kill(pid, crash == Crash::kTwoSigints ? SIGINT : SIGKILL);
      if (crash == Crash::kTwoSigints) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(0, 5000)(rng)));
        kill(pid, SIGINT);
      }
    }
    waitpid(pid, nullptr, 0);
    SCOPED_TRACE(
        fmt::format("trial {}: kind {} after {} ms", trial, static_cast<int>(crash), delay_ms));
    if (crash == Crash::kKillBetweenWrites) {
      const auto committed = find_checkpoint(run, /*verify_files=*/false);
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(run, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("optimizer-", 0) == 0 &&
            (!committed || committed->optimizer_path != entry.path().string())) {
          ++between_writes;
        }
      }
    }
    // Whatever is committed must verify; then resume until the run is complete.
    if (fs::exists(run + "/checkpoint.json")) {
      EXPECT_NO_THROW(read_checkpoint(run));
    }
    int exit_code = fs::exists(run + "/summary.json") ? 0 : -1;  // done before the signal
    for (int attempt = 0; attempt < 3 && exit_code != 0; ++attempt) {
      const bool started = fs::exists(run + "/config.toml");
      exit_code = run_sae(started ? std::vector<std::string>{"train", "--resume", run, "--quiet"}
                                  : args(run))
                      .exit_code;
    }
    ASSERT_EQ(exit_code, 0);
    expect_same_weights(tmp / "straight/model.pt", run + "/model.pt");
    EXPECT_EQ(metric_columns(tmp / "straight/metrics.csv"), metric_columns(run + "/metrics.csv"));
    fs::remove_all(run);
  }
  std::cout << between_writes << " of " << (trials + 1) / 3
            << " kills between writes landed after a step file and before its manifest\n";
}

}  // namespace
}  // namespace sae
