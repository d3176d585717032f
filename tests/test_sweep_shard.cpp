// A sweep's grid in slices (sae/run/sweep_shard.hpp): --shard I/N, Slurm job arrays' variables,
// the command lines of `sae sweep --jobs N`'s processes, and the slices of a grid of several
// kinds of code.

#include <gtest/gtest.h>

#include "sae/base/errors.hpp"
#include "sae/run/sweep_shard.hpp"
#include "sae/store/sweep_folder.hpp"

#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sae {
namespace {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

/// Slurm's array variables for the scope of a test (those not given unset), restored after.
class SlurmArrayEnv {
 public:
  explicit SlurmArrayEnv(const EnvVars& vars) {
    for (const char* name : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                             "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP"}) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name);
    }
    for (const auto& [name, value] : vars) setenv(name.c_str(), value.c_str(), 1);
  }
  ~SlurmArrayEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  SlurmArrayEnv(const SlurmArrayEnv&) = delete;
  SlurmArrayEnv& operator=(const SlurmArrayEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

/// The UsageError that `f` throws, or "" when it throws none.
template <typename F>
std::string usage_error(F f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

bool same(const SweepShard& a, const SweepShard& b) {
  return a.index == b.index && a.count == b.count;
}

TEST(SweepShard, ParsesIOfN) {
  EXPECT_TRUE(same(parse_shard("0/1"), {0, 1}));
  EXPECT_TRUE(same(parse_shard("0/4"), {0, 4}));
  EXPECT_TRUE(same(parse_shard("3/4"), {3, 4}));
  EXPECT_TRUE(same(parse_shard("12/100"), {12, 100}));
}

TEST(SweepShard, RefusesAnythingElseNamingTheFlag) {
  for (const std::string bad : {"4/4", "-1/4", "1/0", "0/-2", " 1/2", "1/2 ", "1 /2", "1-2",
                                "1/2/3", "a/b", "1/", "/2", "", "1"}) {
    EXPECT_EQ(usage_error([&] { parse_shard(bad); }),
              "--shard " + bad + ": expected I/N with 0 <= I < N, e.g. 0/4")
        << "'" << bad << "'";
  }
}

TEST(SweepShard, AShardHoldsEveryNthPoint) {
  const SweepShard shard{1, 3};
  std::vector<size_t> points;
  for (size_t k = 0; k < 8; ++k) {
    if (shard.contains(k)) points.push_back(k);
  }
  EXPECT_EQ(points, (std::vector<size_t>{1, 4, 7}));
  EXPECT_TRUE(SweepShard{}.contains(5));  // the whole grid
}

TEST(SweepShard, SlurmArrayTasksAreShards) {
  {
    const SlurmArrayEnv none({});
    EXPECT_FALSE(slurm_array_shard().has_value());
    EXPECT_TRUE(same(choose_shard(""), {0, 1}));
  }
  {
    const SlurmArrayEnv id_alone(EnvVars{{"SLURM_ARRAY_TASK_ID", "1"}});  // not an array
    EXPECT_FALSE(slurm_array_shard().has_value());
  }
  {
    const SlurmArrayEnv zero_based({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "2"}});
    EXPECT_TRUE(same(choose_shard(""), {1, 2}));
    EXPECT_TRUE(same(choose_shard("0/3"), {0, 3}));  // the flag wins
  }
  {
    // --array=1-2: task 2 is shard 1 of 2.
    const SlurmArrayEnv one_based({{"SLURM_ARRAY_TASK_ID", "2"},
                                   {"SLURM_ARRAY_TASK_MIN", "1"},
                                   {"SLURM_ARRAY_TASK_COUNT", "2"}});
    EXPECT_TRUE(same(*slurm_array_shard(), {1, 2}));
  }
  {
    // --array=0-9:2 runs tasks 0, 2, 4, 6, 8: task 4 is shard 2 of 5.
    const SlurmArrayEnv stepped({{"SLURM_ARRAY_TASK_ID", "4"},
                                 {"SLURM_ARRAY_TASK_MIN", "0"},
                                 {"SLURM_ARRAY_TASK_STEP", "2"},
                                 {"SLURM_ARRAY_TASK_COUNT", "5"}});
    EXPECT_TRUE(same(*slurm_array_shard(), {2, 5}));
  }
  {
    // --array=1-9:2 runs tasks 1, 3, 5, 7, 9: task 7 is shard 3 of 5.
    const SlurmArrayEnv stepped({{"SLURM_ARRAY_TASK_ID", "7"},
                                 {"SLURM_ARRAY_TASK_MIN", "1"},
                                 {"SLURM_ARRAY_TASK_STEP", "2"},
                                 {"SLURM_ARRAY_TASK_COUNT", "5"}});
    EXPECT_TRUE(same(*slurm_array_shard(), {3, 5}));
  }
}

TEST(SweepShard, SlurmValuesThatMakeNoShardAreRefusedByName) {
  const auto refusal = [](const EnvVars& vars) {
    const SlurmArrayEnv env(vars);
    return usage_error([] { slurm_array_shard(); });
  };
  EXPECT_EQ(refusal({{"SLURM_ARRAY_TASK_ID", "3"},
                     {"SLURM_ARRAY_TASK_STEP", "2"},
                     {"SLURM_ARRAY_TASK_COUNT", "5"}}),
            "SLURM_ARRAY_TASK_ID=3 and SLURM_ARRAY_TASK_COUNT=5: the array is not evenly spaced; "
            "pass --shard I/N instead");
  EXPECT_EQ(refusal({{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}),
            "SLURM_ARRAY_TASK_ID=5 and SLURM_ARRAY_TASK_COUNT=2: --shard 5/2: expected I/N with "
            "0 <= I < N, e.g. 0/4");
  EXPECT_EQ(refusal({{"SLURM_ARRAY_TASK_ID", "0"},
                     {"SLURM_ARRAY_TASK_MIN", "1"},
                     {"SLURM_ARRAY_TASK_COUNT", "2"}}),
            "SLURM_ARRAY_TASK_ID=0 and SLURM_ARRAY_TASK_COUNT=2: --shard -1/2: expected I/N with "
            "0 <= I < N, e.g. 0/4");
  EXPECT_EQ(refusal({{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}),
            "SLURM_ARRAY_TASK_ID=x is not an integer in [0, 2147483647]");
  EXPECT_EQ(refusal({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "0"}}),
            "SLURM_ARRAY_TASK_COUNT=0 is not an integer in [1, 2147483647]");
  EXPECT_EQ(refusal({{"SLURM_ARRAY_TASK_ID", "1"},
                     {"SLURM_ARRAY_TASK_STEP", "0"},
                     {"SLURM_ARRAY_TASK_COUNT", "2"}}),
            "SLURM_ARRAY_TASK_STEP=0 is not an integer in [1, 2147483647]");
}

TEST(SweepShard, EachProcessRunsTheCommandOnItsShard) {
  const std::vector<std::string> argv = {"sae",  "sweep",       "--beta",     "0,1", "--jobs",
                                         "2",    "--shard=0/2", "--threads",  "4",   "--out",
                                         "grid", "--jobs=3",    "--threads-x"};
  const std::vector<ProcessJob> jobs = shard_processes(argv, "grid", 2, 3);
  ASSERT_EQ(jobs.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const ProcessJob& job = jobs[static_cast<size_t>(i)];
    const std::string shard = std::to_string(i) + "/2";
    EXPECT_EQ(job.name, "sweep shard " + shard);
    EXPECT_EQ(job.program, "/proc/self/exe");
    EXPECT_EQ(job.argv, (std::vector<std::string>{"sae", "sweep", "--beta", "0,1", "--out", "grid",
                                                  "--threads-x", "--shard", shard, "--threads", "3",
                                                  "--jobs", "1"}));
    EXPECT_EQ(job.log, "grid/sweep-shard-" + std::to_string(i) + "-of-2.log");
  }
}

TEST(SweepShard, TheProcessesOfAGridOfKindsGetItsListsAsGiven) {
  const std::vector<std::string> argv = {"sae",  "sweep",  "--code", "topk,sigmoid",    "--k",
                                         "8,16", "--beta", "0.01",   "--l0-coef=0.001", "--jobs",
                                         "2",    "--out",  "grid"};
  for (const ProcessJob& job : shard_processes(argv, "grid", 2, 1)) {
    EXPECT_EQ(std::vector<std::string>(job.argv.begin(), job.argv.begin() + 9),
              std::vector<std::string>(argv.begin(), argv.begin() + 9));
  }
}

/// The names of the grid points that shard `index` of `count` trains.
std::vector<std::string> shard_names(const std::vector<SweepPoint>& grid, int index, int count) {
  std::vector<std::string> names;
  for (size_t k = 0; k < grid.size(); ++k) {
    if (SweepShard{index, count}.contains(k)) names.push_back(grid[k].name);
  }
  return names;
}

TEST(SweepShard, ShardsPartitionAGridOfKindsHoweverItsListsAreSpelled) {
  SweepLists lists;
  lists.codes = {CodeKind::kSigmoid, CodeKind::kTopK, CodeKind::kJumpRelu};
  lists.betas = {0.001, 0.01};
  lists.ks = {8, 16};
  lists.l0_coefs = {1e-3};
  const std::vector<SweepPoint> grid = sweep_grid(RunConfig(), lists);
  ASSERT_EQ(grid.size(), 5u);
  // Each process reads the lists anew: another order, repeats or spelling give the same grid.
  SweepLists respelled;
  respelled.codes = {CodeKind::kJumpRelu, CodeKind::kTopK, CodeKind::kSigmoid, CodeKind::kTopK};
  respelled.betas = {0.01, 1e-3, 0.001};
  respelled.ks = {16, 8};
  respelled.l0_coefs = {0.001};
  const std::vector<SweepPoint> again = sweep_grid(RunConfig(), respelled);
  ASSERT_EQ(again.size(), grid.size());
  for (size_t k = 0; k < grid.size(); ++k) EXPECT_EQ(again[k].name, grid[k].name);

  for (int count = 1; count <= 6; ++count) {
    SCOPED_TRACE(count);
    std::multiset<std::string> trained;
    for (int index = 0; index < count; ++index) {
      for (const std::string& name : shard_names(again, index, count)) trained.insert(name);
    }
    std::multiset<std::string> all;
    for (const SweepPoint& point : grid) all.insert(point.name);
    EXPECT_EQ(trained, all);  // every point once
  }
  EXPECT_EQ(shard_names(grid, 1, 2), (std::vector<std::string>{"beta=0.01_rho=0.01", "topk_k16"}));
}

}  // namespace
}  // namespace sae
