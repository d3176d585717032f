// `sae sweep` across processes: --shard I/N (and Slurm's array variables), --jobs N, and shards
// running at once into one folder, against a sequential sweep of the same grid.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "test_util.hpp"

#include <filesystem>
#include <sstream>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::run_sae;

/// The sweep's arguments over a 2 x 2 grid of a small synthetic set, into `out`.
std::vector<std::string> sweep_args(const std::string& out) {
  return {"sweep", "--beta",     "0,0.01",
          "--rho", "0.05,0.2",   "--epochs",
          "1",     "--data-dir", test::shared_data(/*train_count=*/300, /*test_count=*/100),
          "--out", out,          "--threads",
          "1",     "--quiet"};
}

/// sweep.csv without its last column (the seconds each run took).
std::string table_without_times(const std::string& path) {
  std::istringstream in(read_text(path));
  std::string out, line;
  while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(Sweep, TwoShardsAtOnceIntoOneFolderGiveTheSequentialTable) {
  test::TempDir dir;
  ASSERT_EQ(run_sae(sweep_args(dir / "sequential")).exit_code, 0);
  const std::string expected = table_without_times(dir / "sequential/sweep.csv");
  ASSERT_NE(expected.find("0.01,0.2,"), std::string::npos) << expected;

  const pid_t first =
      test::spawn_sae(with(sweep_args(dir / "sharded"), {"--shard", "0/2"}), dir / "shard0.err");
  const pid_t second =
      test::spawn_sae(with(sweep_args(dir / "sharded"), {"--shard", "1/2"}), dir / "shard1.err");
  EXPECT_EQ(wait_exit_code(first), 0) << read_text(dir / "shard0.err");
  EXPECT_EQ(wait_exit_code(second), 0) << read_text(dir / "shard1.err");
  for (const char* point :
       {"beta=0_rho=0.05", "beta=0_rho=0.2", "beta=0.01_rho=0.05", "beta=0.01_rho=0.2"}) {
    EXPECT_TRUE(fs::exists(fs::path(dir / "sharded") / point / "summary.json")) << point;
  }
  // The plain sweep that follows trains nothing and writes the whole table.
  const auto plain = run_sae(sweep_args(dir / "sharded"));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(table_without_times(dir / "sharded/sweep.csv"), expected);
}

TEST(Sweep, JobsTrainEveryPointInSeparateProcesses) {
  test::TempDir dir;
  ASSERT_EQ(run_sae(sweep_args(dir / "sequential")).exit_code, 0);
  const auto jobs = run_sae(with(sweep_args(dir / "jobs"), {"--jobs", "2"}));
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_EQ(table_without_times(dir / "jobs/sweep.csv"),
            table_without_times(dir / "sequential/sweep.csv"));
  EXPECT_TRUE(fs::exists(dir / "jobs/sweep-shard-0-of-2.log"));
  EXPECT_TRUE(fs::exists(dir / "jobs/sweep-shard-1-of-2.log"));
}

TEST(Sweep, AShardTrainsItsPointsOnlyAndSlurmArraysPickTheShard) {
  test::TempDir dir;
  const auto one = run_sae(with(sweep_args(dir / "flag"), {"--shard", "1/2"}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  // Grid order: (0, 0.05), (0, 0.2), (0.01, 0.05), (0.01, 0.2); shard 1 of 2 takes k = 1 and 3.
  EXPECT_FALSE(fs::exists(dir / "flag/beta=0_rho=0.05"));
  EXPECT_TRUE(fs::exists(dir / "flag/beta=0_rho=0.2/summary.json"));
  EXPECT_FALSE(fs::exists(dir / "flag/beta=0.01_rho=0.05"));
  EXPECT_TRUE(fs::exists(dir / "flag/beta=0.01_rho=0.2/summary.json"));
  EXPECT_FALSE(fs::exists(dir / "flag/sweep.csv"));  // it waits for the other shard

  // An array of tasks 1..2 (SLURM_ARRAY_TASK_MIN=1): task 2 is shard 1 of 2.
  const pid_t pid = test::spawn_sae(sweep_args(dir / "slurm"), dir / "slurm.err",
                                    {{"SLURM_ARRAY_TASK_ID", "2"},
                                     {"SLURM_ARRAY_TASK_MIN", "1"},
                                     {"SLURM_ARRAY_TASK_COUNT", "2"}});
  EXPECT_EQ(wait_exit_code(pid), 0) << read_text(dir / "slurm.err");
  EXPECT_FALSE(fs::exists(dir / "slurm/beta=0_rho=0.05"));
  EXPECT_TRUE(fs::exists(dir / "slurm/beta=0_rho=0.2/summary.json"));

  test::expect_clean_failure(run_sae(with(sweep_args(dir / "bad"), {"--shard", "2/2"})),
                             "--shard 2/2");
  test::expect_clean_failure(
      run_sae(with(sweep_args(dir / "bad"), {"--shard", "0/2", "--jobs", "2"})), "--jobs");
}

}  // namespace
}  // namespace sae
