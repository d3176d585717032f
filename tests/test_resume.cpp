// Interrupting the real binary with a signal, resuming it, and reproducibility, end to end.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sae/checkpoint.hpp"
#include "test_util.hpp"

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::run_sae;

/// Starts `sae args...` in the background with stderr going to `err_path`.
pid_t spawn_sae(const std::vector<std::string>& args, const std::string& err_path) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    std::vector<char*> argv = {const_cast<char*>(SAE_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SAE_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

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

class Resume : public ::testing::Test {
 protected:
  void SetUp() override { test::write_synthetic_mnist(tmp_ / "data", 4000, 100); }
  std::vector<std::string> train_args(const std::string& run) const {
    return {"train",     "--data-dir", tmp_ / "data",  "--out", run,      "--epochs", "3",
            "--threads", "1",          "--batch-size", "50",    "--seed", "7"};
  }
  test::TempDir tmp_;
};

TEST_F(Resume, SameSeedSameThreadsSameMetricsAndWeights) {
  for (const char* run : {"a", "b"}) {
    const auto r = run_sae(train_args(tmp_ / run));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string a = metric_columns(tmp_ / "a/metrics.csv");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 4);  // header + 3 epochs
  EXPECT_EQ(a, metric_columns(tmp_ / "b/metrics.csv"));
  expect_same_weights(tmp_ / "a/model.pt", tmp_ / "b/model.pt");
}

TEST_F(Resume, SigintSavesACheckpointAndResumeEndsWhereAnUninterruptedRunDoes) {
  const auto straight = run_sae(train_args(tmp_ / "straight"));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;

  for (const int signal : {SIGINT, SIGTERM}) {
    const std::string run = tmp_ / ("run" + std::to_string(signal));
    const std::string err = tmp_ / ("err" + std::to_string(signal));
    const pid_t pid = spawn_sae(train_args(run), err);
    // Wait until training has begun, then interrupt it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (read_text(err).find("run folder") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid, signal);
    int status = 0;
    waitpid(pid, &status, 0);
    const std::string log = read_text(err);
    ASSERT_TRUE(WIFEXITED(status)) << log;
    ASSERT_EQ(WEXITSTATUS(status), 128 + signal) << log;
    EXPECT_NE(log.find("continue with: sae train --resume " + run), std::string::npos) << log;
    EXPECT_TRUE(fs::exists(run + "/model.pt"));
    for (const auto& entry : fs::directory_iterator(run)) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
    }
    EXPECT_LT(load_checkpoint_info(run + "/model.pt").epoch, 3) << "interrupted too late: " << log;

    const auto resumed = run_sae({"train", "--resume", run, "--quiet"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    expect_same_weights(tmp_ / "straight/model.pt", run + "/model.pt");
    EXPECT_EQ(metric_columns(tmp_ / "straight/metrics.csv"), metric_columns(run + "/metrics.csv"));
  }
}

TEST_F(Resume, ResumeCanExtendAFinishedRun) {
  auto args = train_args(tmp_ / "run");
  args[6] = "1";  // --epochs 1
  ASSERT_EQ(run_sae(args).exit_code, 0);
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
  EXPECT_EQ(load_checkpoint_info(tmp_ / "run/model.pt").epoch, 2);
  EXPECT_NE(read_text(tmp_ / "run/metrics.csv").find("\n2,"), std::string::npos);
  test::expect_clean_failure(run_sae({"train", "--resume", tmp_ / "nowhere"}), "nowhere");
}

TEST_F(Resume, AnExistingRunIsNeverOverwrittenWithoutForce) {
  auto args = train_args(tmp_ / "run");
  args[6] = "1";
  ASSERT_EQ(run_sae(args).exit_code, 0);
  const std::string before = read_text(tmp_ / "run/metrics.csv");
  test::expect_clean_failure(run_sae(args), "--force");
  EXPECT_EQ(read_text(tmp_ / "run/metrics.csv"), before);
  args.push_back("--force");
  EXPECT_EQ(run_sae(args).exit_code, 0);
}

}  // namespace
}  // namespace sae
