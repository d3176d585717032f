// `sae sweep` across processes: --shard I/N (and Slurm's array variables), --jobs N, and shards
// running at once into one folder, against a sequential sweep of the same grid. The grid of
// kinds of code, each with the lists that apply to it. And sweep.csv written and read back: grid
// folders named from its settings, never from its text, and files from before --code still read.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "sae/base/errors.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/store/sweep_folder.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::run_sae;

/// `sae sweep --out OUT` over the 2 x 2 grid that the sweep tests share, quiet.
std::vector<std::string> sweep_args(const std::string& out) {
  std::vector<std::string> args = {"sweep", "--out", out, "--quiet"};
  const auto grid = test::small_grid_args();
  args.insert(args.end(), grid.begin(), grid.end());
  return args;
}

/// sweep.csv without its last column (the seconds each run took).
std::string table_without_times(const std::string& path) {
  std::istringstream in(read_text(path));
  std::string out, line;
  while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

/// The grid's table as one sequential sweep writes it, without the times: trained once for every
/// test here (test::shared_sweep), which compare their own ways of training it against it.
std::string sequential_table() {
  return table_without_times(test::shared_sweep(test::small_grid_args()) + "/sweep.csv");
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
  const std::string expected = sequential_table();
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
  const std::string out = dir / "jobs";
  // Not quiet: each shard's log then holds the lines it logs for each of its grid points.
  std::vector<std::string> args = {"sweep", "--out", out, "--jobs", "2"};
  const auto grid = test::small_grid_args();
  args.insert(args.end(), grid.begin(), grid.end());
  const auto jobs = run_sae(args);
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_EQ(table_without_times(out + "/sweep.csv"), sequential_table());
  // Grid order: (0, 0.05), (0, 0.2), (0.01, 0.05), (0.01, 0.2); shard i of 2 takes k = i, i + 2.
  const std::vector<std::vector<std::string>> points = {
      {"sweep 1/4: sigmoid, beta 0, rho 0.05", "beta=0_rho=0.05"},
      {"sweep 2/4: sigmoid, beta 0, rho 0.2", "beta=0_rho=0.2"},
      {"sweep 3/4: sigmoid, beta 0.01, rho 0.05", "beta=0.01_rho=0.05"},
      {"sweep 4/4: sigmoid, beta 0.01, rho 0.2", "beta=0.01_rho=0.2"}};
  for (int shard = 0; shard < 2; ++shard) {
    const std::string log_path = out + "/sweep-shard-" + std::to_string(shard) + "-of-2.log";
    ASSERT_TRUE(fs::is_regular_file(log_path)) << log_path;
    const std::string log = read_text(log_path);
    for (size_t k = 0; k < points.size(); ++k) {
      const bool mine = static_cast<int>(k % 2) == shard;
      EXPECT_EQ(log.find(points[k][0]) != std::string::npos, mine)
          << log_path << (mine ? " lacks " : " has ") << points[k][0] << ":\n"
          << log;
      EXPECT_EQ(log.find("run folder " + out + "/" + points[k][1]) != std::string::npos, mine)
          << log_path << (mine ? " did not train " : " trained ") << points[k][1] << ":\n"
          << log;
    }
    // The parent names each shard's process and log.
    EXPECT_NE(jobs.err.find("shard " + std::to_string(shard) + "/2: pid "), std::string::npos)
        << jobs.err;
    EXPECT_NE(jobs.err.find("log " + log_path), std::string::npos) << jobs.err;
  }
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

  // An array of tasks 1..2 (SLURM_ARRAY_TASK_MIN=1): task 2 is shard 1 of 2. Into the same
  // folder, where shard 1's points are finished, so that it trains nothing: its log says which
  // points it took, and any other point would appear on disk, or the table with all four.
  std::vector<std::string> slurm = {"sweep", "--out", dir / "flag"};  // not quiet: the log
  const auto grid = test::small_grid_args();
  slurm.insert(slurm.end(), grid.begin(), grid.end());
  const pid_t pid = test::spawn_sae(slurm, dir / "slurm.err",
                                    {{"SLURM_ARRAY_TASK_ID", "2"},
                                     {"SLURM_ARRAY_TASK_MIN", "1"},
                                     {"SLURM_ARRAY_TASK_COUNT", "2"}});
  EXPECT_EQ(wait_exit_code(pid), 0) << read_text(dir / "slurm.err");
  const std::string log = read_text(dir / "slurm.err");
  for (const char* point : {"beta=0_rho=0.2", "beta=0.01_rho=0.2"}) {
    EXPECT_NE(log.find(dir / "flag/" + point + " already finished; skipped"), std::string::npos)
        << point << ":\n"
        << log;
  }
  EXPECT_EQ(log.find("sweep 1/4:"), std::string::npos) << log;
  EXPECT_EQ(log.find("sweep 3/4:"), std::string::npos) << log;
  EXPECT_NE(log.find("shard 1/2 done"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "flag/beta=0_rho=0.05"));
  EXPECT_TRUE(fs::exists(dir / "flag/beta=0_rho=0.2/summary.json"));
  EXPECT_FALSE(fs::exists(dir / "flag/beta=0.01_rho=0.05"));
  EXPECT_FALSE(fs::exists(dir / "flag/sweep.csv"));

  test::expect_clean_failure(run_sae(with(sweep_args(dir / "bad"), {"--shard", "2/2"})),
                             "--shard 2/2");
  test::expect_clean_failure(
      run_sae(with(sweep_args(dir / "bad"), {"--shard", "0/2", "--jobs", "2"})), "--jobs");
}

TEST(Sweep, KindsOfCodeShareOneSweepEachWithTheSettingsItReads) {
  test::TempDir dir;
  const std::string out = dir / "kinds";
  const std::vector<std::string> args = {"sweep",
                                         "--code",
                                         "topk,sigmoid",
                                         "--beta",
                                         "0.01",
                                         "--k",
                                         "4,8",
                                         "--epochs",
                                         "1",
                                         "--data-dir",
                                         test::shared_data(300, 100),
                                         "--threads",
                                         "1",
                                         "--out",
                                         out,
                                         "--quiet"};
  // Grid order: sigmoid (beta 0.01), topk k 4, topk k 8; shard 1 of 2 takes the middle one.
  const auto shard = run_sae(with(args, {"--shard", "1/2"}));
  ASSERT_EQ(shard.exit_code, 0) << shard.err;
  EXPECT_TRUE(fs::exists(fs::path(out) / "topk_k4/summary.json"));
  EXPECT_FALSE(fs::exists(fs::path(out) / "beta=0.01_rho=0.01"));
  EXPECT_FALSE(fs::exists(fs::path(out) / "topk_k8"));
  EXPECT_FALSE(fs::exists(fs::path(out) / "sweep.csv"));  // it waits for the other points

  const auto all = run_sae(args);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const SweepTable table = read_sweep_table(out);
  ASSERT_GE(table.columns.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(table.columns.begin(), table.columns.begin() + 5),
            (std::vector<std::string>{"code", "beta", "rho", "k", "l0_coef"}));
  ASSERT_EQ(table.rows.size(), 3u);
  EXPECT_EQ(table.rows[0].name, "beta=0.01_rho=0.01");
  EXPECT_EQ(table.rows[1].name, "topk_k4");
  EXPECT_EQ(table.rows[2].name, "topk_k8");
  EXPECT_EQ(std::vector<std::string>(table.rows[2].cells.begin(), table.rows[2].cells.begin() + 5),
            (std::vector<std::string>{"topk", "", "", "8", ""}));
  EXPECT_EQ(std::vector<std::string>(table.rows[0].cells.begin(), table.rows[0].cells.begin() + 5),
            (std::vector<std::string>{"sigmoid", "0.01", "0.01", "", ""}));
  // Each run was trained with its own kind's settings, the others at their defaults.
  const RunConfig topk = read_checkpoint(out + "/topk_k8").config;
  EXPECT_EQ(topk.code, CodeKind::kTopK);
  EXPECT_EQ(topk.k, 8);
  EXPECT_EQ(topk.beta, RunConfig().beta);
  const RunConfig sigmoid = read_checkpoint(out + "/beta=0.01_rho=0.01").config;
  EXPECT_EQ(sigmoid.code, CodeKind::kSigmoid);
  EXPECT_EQ(sigmoid.beta, 0.01);
  EXPECT_EQ(sigmoid.k, RunConfig().k);

  const test::DecodedPng png = test::decode_png(out + "/sweep.png");
  EXPECT_EQ(png.width, 1600);
  EXPECT_EQ(png.height, 600);
  EXPECT_FALSE(png.blank());
  const std::string index = read_text(out + "/index.html");
  EXPECT_NE(index.find(R"(<th data-column="0">code</th>)"), std::string::npos) << index;
  EXPECT_NE(index.find(R"(href="topk_k8/report.html")"), std::string::npos) << index;
  EXPECT_NE(index.find(R"(src="sweep.png")"), std::string::npos) << index;
}

TEST(Sweep, ListsAndSettingsThatNoKindOfTheSweepReadsAreRefusedInOneLine) {
  test::TempDir dir;
  const std::string out = dir / "bad";
  const auto refused = [&](const std::vector<std::string>& flags, const std::string& expected) {
    SCOPED_TRACE(expected);
    test::expect_clean_failure(run_sae(with({"sweep", "--out", out, "--epochs", "1"}, flags)),
                               expected);
    EXPECT_FALSE(fs::exists(out));
  };
  refused({"--code", "sigmoid", "--k", "8"},
          "--k applies to --code topk and batchtopk, not sigmoid");
  refused({"--k", "16"}, "--k applies to --code topk and batchtopk, not sigmoid");  // its default
  refused({"--code", "topk,relu,topk", "--rho", "0.05"},
          "--rho applies to --code sigmoid, not relu or topk");
  refused({"--code", "topk", "--bandwidth", "0.1"},
          "--bandwidth applies to --code jumprelu, not topk");
  refused({"--code", "topk", "--penalty", "l1"}, "--penalty applies to --code sigmoid, not topk");
  refused({"--code", "topk", "--k", "0"}, "--k must be between 1 and 64");
  refused({"--code", "topk", "--k", "8,65"}, "--k must be between 1 and 64");
  refused({"--code", "topk", "--k", "8,x"}, "--k 8,x: item 2 is 'x'");
  refused({"--code", "topk", "--k", "8.5"}, "--k 8.5: item 1 is '8.5'");
  refused({"--code", "tpk"}, "--code tpk: item 1 is 'tpk'");
  refused({"--code", "sigmoid,"}, "--code sigmoid,: item 2 is empty");
  refused({"--code", "jumprelu", "--l0-coef", "1e-3,-1"}, "--l0-coef");
}

/// The names of `grid`'s points, in order.
std::vector<std::string> names(const std::vector<SweepPoint>& grid) {
  std::vector<std::string> out;
  for (const SweepPoint& point : grid) out.push_back(point.name);
  return out;
}

/// The UsageError sweep_grid throws for `lists` over `base`, or "" when it throws none.
std::string grid_error(const SweepLists& lists, const RunConfig& base = RunConfig()) {
  try {
    sweep_grid(base, lists);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(SweepGrid, EachKindOfCodeTakesOnlyTheListsThatApplyToIt) {
  SweepLists lists;
  lists.codes = {CodeKind::kSigmoid, CodeKind::kTopK};
  lists.betas = {0.001, 0.01};
  lists.ks = {8, 16};
  const std::vector<SweepPoint> grid = sweep_grid(RunConfig(), lists);
  EXPECT_EQ(names(grid), (std::vector<std::string>{"beta=0.001_rho=0.01", "beta=0.01_rho=0.01",
                                                   "topk_k8", "topk_k16"}));
  const RunConfig defaults;
  for (const SweepPoint& point : grid) {
    SCOPED_TRACE(point.name);
    EXPECT_EQ(point.name, sweep_point_name(point.config));
    EXPECT_NO_THROW(validate(point.config));
    if (point.config.code == CodeKind::kSigmoid) {
      EXPECT_EQ(point.config.k, defaults.k);
      EXPECT_EQ(point.config.rho, defaults.rho);
    } else {
      EXPECT_EQ(point.config.code, CodeKind::kTopK);
      EXPECT_EQ(point.config.beta, defaults.beta);  // the betas are sigmoid's
    }
  }
  EXPECT_EQ(grid[1].config.beta, 0.01);
  EXPECT_EQ(grid[3].config.k, 16);
}

TEST(SweepGrid, EveryKindAtOnceIsTheProductOfItsOwnListsOnly) {
  SweepLists lists;
  lists.codes = {CodeKind::kJumpRelu, CodeKind::kBatchTopK, CodeKind::kTopK, CodeKind::kRelu,
                 CodeKind::kSigmoid};
  lists.betas = {0, 0.01};
  lists.rhos = {0.05, 0.1, 0.2};
  lists.ks = {16, 8};
  lists.l0_coefs = {1e-3, 1e-2};
  const std::vector<SweepPoint> grid = sweep_grid(RunConfig(), lists);
  // sigmoid: 2 betas x 3 rhos; relu: 2 betas; topk, batchtopk: 2 ks each; jumprelu: 2 lambdas.
  ASSERT_EQ(grid.size(), 6u + 2 + 2 + 2 + 2);
  const RunConfig d;
  using Settings = std::tuple<double, double, int64_t, double>;  // beta, rho, k, l0_coef
  std::map<CodeKind, std::vector<Settings>> by_kind;
  for (const SweepPoint& point : grid) {
    const RunConfig& c = point.config;
    by_kind[c.code].emplace_back(c.beta, c.rho, c.k, c.l0_coef);
  }
  using V = std::vector<Settings>;
  EXPECT_EQ(by_kind[CodeKind::kSigmoid], (V{{0, 0.05, d.k, d.l0_coef},
                                            {0, 0.1, d.k, d.l0_coef},
                                            {0, 0.2, d.k, d.l0_coef},
                                            {0.01, 0.05, d.k, d.l0_coef},
                                            {0.01, 0.1, d.k, d.l0_coef},
                                            {0.01, 0.2, d.k, d.l0_coef}}));
  EXPECT_EQ(by_kind[CodeKind::kRelu],
            (V{{0, d.rho, d.k, d.l0_coef}, {0.01, d.rho, d.k, d.l0_coef}}));
  for (const CodeKind kind : {CodeKind::kTopK, CodeKind::kBatchTopK}) {
    EXPECT_EQ(by_kind[kind], (V{{d.beta, d.rho, 8, d.l0_coef}, {d.beta, d.rho, 16, d.l0_coef}}));
  }
  EXPECT_EQ(by_kind[CodeKind::kJumpRelu],
            (V{{d.beta, d.rho, d.k, 1e-3}, {d.beta, d.rho, d.k, 1e-2}}));
  // The kinds in --code's table order, whatever order the list gave them in.
  EXPECT_EQ(grid.front().config.code, CodeKind::kSigmoid);
  EXPECT_EQ(grid.back().config.code, CodeKind::kJumpRelu);
}

TEST(SweepGrid, EqualValuesAreOnePointAndNoListsAreTheBasesOnePoint) {
  SweepLists lists;
  lists.codes = {CodeKind::kTopK, CodeKind::kTopK};
  lists.ks = {16, 8, 8};
  EXPECT_EQ(names(sweep_grid(RunConfig(), lists)),
            (std::vector<std::string>{"topk_k8", "topk_k16"}));
  SweepLists betas;
  betas.betas = {1e-3, 0.001, 0.0010};
  EXPECT_EQ(names(sweep_grid(RunConfig(), betas)), std::vector<std::string>{"beta=0.001_rho=0.01"});

  EXPECT_EQ(names(sweep_grid(RunConfig(), {})), std::vector<std::string>{"beta=0.005_rho=0.01"});
  RunConfig topk;
  topk.code = CodeKind::kTopK;
  topk.k = 8;
  EXPECT_EQ(names(sweep_grid(topk, {})), std::vector<std::string>{"topk_k8"});
}

TEST(SweepGrid, ABaseSettingGoesToTheKindsThatReadItOnly) {
  RunConfig base;
  base.aux_k = 8;               // relu, topk, batchtopk, jumprelu
  base.penalty = Penalty::kL1;  // sigmoid
  base.epochs = 3;              // every kind
  SweepLists lists;
  lists.codes = {CodeKind::kSigmoid, CodeKind::kTopK};
  const std::vector<SweepPoint> grid = sweep_grid(base, lists);
  ASSERT_EQ(grid.size(), 2u);
  EXPECT_EQ(grid[0].config.penalty, Penalty::kL1);
  EXPECT_EQ(grid[0].config.aux_k, RunConfig().aux_k);
  EXPECT_EQ(grid[1].config.penalty, RunConfig().penalty);
  EXPECT_EQ(grid[1].config.aux_k, 8);
  EXPECT_EQ(grid[0].config.epochs, 3);
  EXPECT_EQ(grid[1].config.epochs, 3);
}

TEST(SweepGrid, AListOrASettingNoKindReadsIsRefusedInOneLine) {
  SweepLists ks;
  ks.codes = {CodeKind::kRelu, CodeKind::kSigmoid};
  ks.ks = {8};
  EXPECT_EQ(grid_error(ks),
            "--k applies to --code topk and batchtopk, not sigmoid or relu; add one of those to "
            "--code, or drop --k");
  SweepLists rhos;
  rhos.codes = {CodeKind::kTopK};
  rhos.rhos = {0.05};
  EXPECT_EQ(grid_error(rhos).rfind("--rho applies to --code sigmoid, not topk;", 0), 0u)
      << grid_error(rhos);
  SweepLists lambdas;  // the base's code: sigmoid
  lambdas.l0_coefs = {1e-3};
  EXPECT_EQ(grid_error(lambdas).rfind("--l0-coef applies to --code jumprelu, not sigmoid;", 0), 0u)
      << grid_error(lambdas);
  RunConfig bandwidth;
  bandwidth.bandwidth = 0.1;
  SweepLists two;
  two.codes = {CodeKind::kSigmoid, CodeKind::kTopK};
  EXPECT_EQ(grid_error(two, bandwidth)
                .rfind("--bandwidth applies to --code jumprelu, not sigmoid or topk;", 0),
            0u)
      << grid_error(two, bandwidth);
  two.codes.push_back(CodeKind::kJumpRelu);  // now one kind reads it
  EXPECT_EQ(grid_error(two, bandwidth), "");
  EXPECT_EQ(sweep_grid(bandwidth, two).back().config.bandwidth, 0.1);
  EXPECT_EQ(sweep_grid(bandwidth, two).front().config.bandwidth, RunConfig().bandwidth);
}

TEST(SweepGrid, AnInvalidPointIsRefusedNamingItsFlag) {
  SweepLists ks;
  ks.codes = {CodeKind::kTopK};
  ks.ks = {8, 65};
  EXPECT_NE(grid_error(ks).find("--k must be between 1 and 64"), std::string::npos)
      << grid_error(ks);
  SweepLists rhos;
  rhos.rhos = {0.05, 2};
  EXPECT_NE(grid_error(rhos).find("--rho"), std::string::npos) << grid_error(rhos);
  SweepLists betas;
  betas.codes = {CodeKind::kRelu};
  betas.betas = {-1};
  EXPECT_NE(grid_error(betas).find("--beta"), std::string::npos) << grid_error(betas);
}

/// A finished run's summary with the metrics the frontier reads.
RunSummary summary_with(double mean_l0, double thresholded_fvu) {
  RunSummary summary;
  summary.test.images = 100;
  summary.test.mse = 0.02;
  summary.test.mean_l0 = mean_l0;
  summary.test.thresholded_fvu = thresholded_fvu;
  summary.probe.test_accuracy = 0.8;
  summary.seconds = 1.5;
  return summary;
}

TEST(SweepTable, EveryKindsRowsAreWrittenWithTheirCodeAndReadBack) {
  test::TempDir dir;
  SweepLists lists;
  lists.codes = {CodeKind::kSigmoid, CodeKind::kRelu, CodeKind::kTopK, CodeKind::kBatchTopK,
                 CodeKind::kJumpRelu};
  lists.betas = {0.001, 0.01};
  lists.ks = {8, 16};
  lists.l0_coefs = {1e-3};
  const std::vector<SweepPoint> grid = sweep_grid(RunConfig(), lists);
  std::vector<SweepRow> rows;
  for (size_t i = 0; i < grid.size(); ++i) {
    rows.push_back({grid[i].config, summary_with(1.0 + static_cast<double>(i), 0.5)});
  }
  rows[0].summary.test.mean_l0 = 0;  // a sigmoid code with no unit above 0.5: off the log axis
  rows[1].summary.test.thresholded_fvu = std::numeric_limits<double>::quiet_NaN();  // old summary
  write_sweep_results(dir.path().string(), rows);

  const SweepTable table = read_sweep_table(dir.path().string());
  ASSERT_GE(table.columns.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(table.columns.begin(), table.columns.begin() + 5),
            (std::vector<std::string>{"code", "beta", "rho", "k", "l0_coef"}));
  for (const char* metric : {"mean_l0", "thresholded_fvu", "probe_accuracy"}) {
    EXPECT_NE(std::find(table.columns.begin(), table.columns.end(), metric), table.columns.end())
        << metric;
  }
  ASSERT_EQ(table.rows.size(), grid.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    const SweepTable::Row& row = table.rows[i];
    const RunConfig& asked = grid[i].config;
    SCOPED_TRACE(grid[i].name);
    EXPECT_EQ(row.name, grid[i].name);
    EXPECT_EQ(row.settings.code, asked.code);
    EXPECT_EQ(row.cells[0], code_name(asked.code));
    EXPECT_EQ(row.cells[1].empty(), !applies_to("beta", asked.code));
    EXPECT_EQ(row.cells[2].empty(), !applies_to("rho", asked.code));
    EXPECT_EQ(row.cells[3].empty(), !applies_to("k", asked.code));
    EXPECT_EQ(row.cells[4].empty(), !applies_to("l0-coef", asked.code));
    if (applies_to("beta", asked.code)) {
      EXPECT_EQ(row.settings.beta, asked.beta);
    }
    if (applies_to("k", asked.code)) {
      EXPECT_EQ(row.settings.k, asked.k);
    }
    if (applies_to("l0-coef", asked.code)) {
      EXPECT_EQ(row.settings.l0_coef, asked.l0_coef);
    }
    EXPECT_EQ(row.cells.size(), table.columns.size());
  }
  // The frontier, though one sigmoid run has L0 = 0 and one no FVU.
  const test::DecodedPng png = test::decode_png(dir / "sweep.png");
  EXPECT_EQ(png.width, 1600);
  EXPECT_EQ(png.height, 600);
  EXPECT_FALSE(png.blank());
}

constexpr const char* kHeader =
    "code,beta,rho,k,l0_coef,test_mse,mean_l0,thresholded_fvu,seconds\n";
// As sae sweep wrote it before --code.
constexpr const char* kLegacyHeader =
    "beta,rho,test_mse,mean_rho_hat,dead_units,mean_l0,probe_accuracy,seconds\n";

/// DIR/sweep.csv holding `text`.
void write_table(const test::TempDir& dir, const std::string& text) {
  std::ofstream(dir / "sweep.csv", std::ios::binary) << text;
}

/// What read_sweep_table says of a sweep.csv holding `text`: its error, or "" when it reads.
std::string table_error(const std::string& text) {
  test::TempDir dir;
  write_table(dir, text);
  try {
    read_sweep_table(dir.path().string());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(SweepTable, GridFoldersAreNamedFromTheSettingsNotTheirSpelling) {
  SweepLists lists;
  lists.codes = {CodeKind::kSigmoid, CodeKind::kTopK};
  lists.betas = {1e-3, 0.02};
  lists.rhos = {0.05};
  lists.ks = {8};
  const std::vector<SweepPoint> grid = sweep_grid(RunConfig(), lists);
  ASSERT_EQ(grid.size(), 3u);
  EXPECT_EQ(grid[0].name, "beta=0.001_rho=0.05");
  EXPECT_EQ(grid[2].name, "topk_k8");

  // Other spellings of the grid's numbers, a blank line and a Windows line end.
  test::TempDir dir;
  EXPECT_NE(table_error(std::string(kHeader) + "topk,,,+8,,0.1,8,0.3,1\n"), "");  // k in full
  write_table(dir, std::string(kHeader) + "sigmoid,1e-3,0.050,,,0.1,1,0.5,1.0\r\n\n" +
                       "sigmoid,0.020,5e-2,,,0.1,1,0.5,2.5\n" + "topk,,,8,,0.1,8,0.3,1\n");
  const SweepTable table = read_sweep_table(dir.path().string());
  ASSERT_EQ(table.columns.size(), 9u);
  ASSERT_EQ(table.rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(table.rows[i].name, grid[i].name);
  EXPECT_EQ(table.rows[0].cells[1], "1e-3");  // the page shows the cells as written
  EXPECT_EQ(table.rows[0].cells.back(), "1.0");
  EXPECT_EQ(table.rows[1].line, 4);
  EXPECT_EQ(table.rows[2].settings.code, CodeKind::kTopK);
  EXPECT_EQ(table.rows[2].settings.k, 8);
}

TEST(SweepTable, AFileFromBeforeKindsOfCodeReadsAsSigmoidRuns) {
  test::TempDir dir;
  write_table(dir, std::string(kLegacyHeader) + "1e-3,0.050,0.1,0.05,0,1,0.5,1.0\r\n\n" +
                       "0.020,5e-2,0.1,0.05,0,1,0.5,2.5\n");
  const SweepTable table = read_sweep_table(dir.path().string());
  ASSERT_EQ(table.columns.size(), 8u);
  EXPECT_EQ(table.columns.front(), "beta");
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].settings.code, CodeKind::kSigmoid);
  EXPECT_EQ(table.rows[0].name, "beta=0.001_rho=0.05");
  EXPECT_EQ(table.rows[1].name, "beta=0.02_rho=0.05");
  EXPECT_EQ(table.rows[0].cells.front(), "1e-3");
  EXPECT_EQ(table.rows[1].line, 4);
}

TEST(SweepTable, ASettingThatIsNotAFiniteNumberIsRefusedByLineAndCell) {
  const std::string rest = ",0.1,0.05,0,1,0.5,1.0\n";  // the cells after beta and rho
  struct Case {
    std::string beta, rho;
    std::string column;  // the one refused
    std::string shown;   // as the message quotes it
  };
  const std::vector<Case> cases = {
      {"/../../../vict", "0.05", "beta", "'/../../../vict'"},
      {"..", "0.05", "beta", "'..'"},
      {"0.01/../../..", "0.05", "beta", "'0.01/../../..'"},
      {"/tmp/elsewhere", "0.05", "beta", "'/tmp/elsewhere'"},
      {"0.01", "0.05/../../../x", "rho", "'0.05/../../../x'"},
      {"0.01", "abc", "rho", "'abc'"},
      {"0.01", "", "rho", "''"},
      {"nan", "0.05", "beta", "'nan'"},
      {"0.01", "-inf", "rho", "'-inf'"},
      {"1e999", "0.05", "beta", "'1e999'"},
      {" 0.01", "0.05", "beta", "' 0.01'"},
      {"0.01 ", "0.05", "beta", "'0.01 '"},
      {"0x1p-3", "0.05", "beta", "'0x1p-3'"},
      {"0.01", "0.05\x1b[2J", "rho", "'0.05\\x1b[2J'"},  // no terminal control reaches stderr
  };
  for (const Case& c : cases) {
    // In a file from before --code, and in one with the code column.
    for (const std::string& text :
         {std::string(kLegacyHeader) + c.beta + "," + c.rho + rest,
          std::string(kHeader) + "sigmoid," + c.beta + "," + c.rho + ",,,0.1,1,0.5,1\n"}) {
      const std::string error = table_error(text);
      EXPECT_NE(error.find("sweep.csv: line 2: expected a finite number for " + c.column +
                           ", found " + c.shown + ";"),
                std::string::npos)
          << error;
      EXPECT_NE(error.find("sae sweep"), std::string::npos) << error;  // how to write it anew
      EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
  }
  // A bad row after good ones is named by its own line.
  EXPECT_NE(table_error(std::string(kLegacyHeader) + "0.01,0.05" + rest + "\n0.01,x" + rest)
                .find("sweep.csv: line 4: expected a finite number for rho, found 'x'"),
            std::string::npos);
}

TEST(SweepTable, TheCodeAndTheSettingsItDoesNotReadAreReadStrictly) {
  const std::string header = kHeader;
  const std::string rest = ",0.1,8,0.3,1\n";  // the metrics
  struct Case {
    std::string settings;  // code, beta, rho, k, l0_coef
    std::string expected;  // after "sweep.csv: line 2: expected "
  };
  const std::vector<Case> cases = {
      {"tpk,,,8,", "one of sigmoid, relu, topk, batchtopk, jumprelu for code, found 'tpk'"},
      {"../x,,,8,", "one of sigmoid, relu, topk, batchtopk, jumprelu for code, found '../x'"},
      {"TopK,,,8,", "one of sigmoid, relu, topk, batchtopk, jumprelu for code, found 'TopK'"},
      {",,,8,", "one of sigmoid, relu, topk, batchtopk, jumprelu for code, found ''"},
      {"topk,,,8.5,", "an integer for k, found '8.5'"},
      {"topk,,,,", "an integer for k, found ''"},
      {"topk,,,8/../..,", "an integer for k, found '8/../..'"},
      {"topk,0.01,,8,", "an empty cell for beta (it does not apply to --code topk), found '0.01'"},
      {"sigmoid,0.01,0.05,8,",
       "an empty cell for k (it does not apply to --code sigmoid), found '8'"},
      {"relu,0.01,0.05,,",
       "an empty cell for rho (it does not apply to --code relu), found '0.05'"},
      {"jumprelu,,,,x", "a finite number for l0_coef, found 'x'"},
  };
  for (const Case& c : cases) {
    const std::string error = table_error(header + c.settings + rest);
    EXPECT_NE(error.find("sweep.csv: line 2: expected " + c.expected + ";"), std::string::npos)
        << c.settings << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  EXPECT_EQ(table_error(header + "jumprelu,,,,1e-3" + rest), "");
  EXPECT_EQ(table_error(header + "batchtopk,,,64," + rest), "");
}

TEST(SweepTable, ARowOfTheWrongLengthOrAForeignHeaderIsOneLineNamingIt) {
  const std::string header = kLegacyHeader;
  const std::string cells = "expected 8 comma-separated cells, one per column of the header, ";
  EXPECT_NE(table_error(header + "0.01\n").find("sweep.csv: line 2: " + cells + "found 1: '0.01'"),
            std::string::npos)
      << table_error(header + "0.01\n");
  EXPECT_NE(table_error(header + "0.01,0.05,0.1\n").find("line 2: " + cells + "found 3"),
            std::string::npos);
  EXPECT_NE(table_error(header + "0.01,0.05,1,1,1,1,1,1,1\n").find("line 2: " + cells + "found 9"),
            std::string::npos);
  EXPECT_NE(table_error(header + "0.01,0.05,1,1,1,1,1,1,\n").find("line 2: " + cells + "found 9"),
            std::string::npos);  // a trailing comma is an empty cell
  EXPECT_NE(table_error(std::string(kHeader) + "topk,,,8\n")
                .find("line 2: expected 9 comma-separated cells, one per column of the header, "
                      "found 4"),
            std::string::npos);
  for (const std::string& text :
       {std::string(), std::string("rho,beta\n0.05,0.01\n"), std::string("beta\n0.01\n"),
        std::string("code,beta,rho\nsigmoid,0.01,0.05\n"),
        std::string("beta,code,rho,k,l0_coef\n0.01,sigmoid,0.05,,\n")}) {
    EXPECT_NE(table_error(text).find("sweep.csv: line 1: expected a header starting "
                                     "'code,beta,rho,k,l0_coef,', as sae sweep writes it (or "
                                     "'beta,rho,', as it wrote it before --code)"),
              std::string::npos)
        << table_error(text);
  }
  EXPECT_EQ(table_error(header), "");  // a table with no rows yet reads
  EXPECT_EQ(table_error(kHeader), "");
}

}  // namespace
}  // namespace sae
