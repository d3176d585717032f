// `sae sweep` across processes: --shard I/N (and Slurm's array variables), --jobs N, and shards
// running at once into one folder, against a sequential sweep of the same grid. And sweep.csv
// read back: grid folders named from its numbers, never from its text.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "sae/store/sweep_folder.hpp"
#include "test_util.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

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
      {"sweep 1/4: beta 0, rho 0.05", "beta=0_rho=0.05"},
      {"sweep 2/4: beta 0, rho 0.2", "beta=0_rho=0.2"},
      {"sweep 3/4: beta 0.01, rho 0.05", "beta=0.01_rho=0.05"},
      {"sweep 4/4: beta 0.01, rho 0.2", "beta=0.01_rho=0.2"}};
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

constexpr const char* kHeader =
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

TEST(SweepTable, GridFoldersAreNamedFromTheNumbersNotTheirSpelling) {
  const std::vector<SweepPoint> grid = sweep_grid(RunConfig{}, {1e-3, 0.02}, {0.05});
  ASSERT_EQ(grid.size(), 2u);
  EXPECT_EQ(grid[0].name, "beta=0.001_rho=0.05");
  EXPECT_EQ(grid[1].name, sweep_point_name(0.02, 0.05));

  // Other spellings of the grid's numbers, a blank line and a Windows line end.
  test::TempDir dir;
  write_table(dir, std::string(kHeader) + "1e-3,0.050,0.1,0.05,0,1,0.5,1.0\r\n\n" +
                       "0.020,5e-2,0.1,0.05,0,1,0.5,2.5\n");
  const SweepTable table = read_sweep_table(dir.path().string());
  ASSERT_EQ(table.columns.size(), 8u);
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(sweep_point_name(table.rows[0].beta, table.rows[0].rho), grid[0].name);
  EXPECT_EQ(sweep_point_name(table.rows[1].beta, table.rows[1].rho), grid[1].name);
  EXPECT_EQ(table.rows[0].cells.front(), "1e-3");  // the page shows the cells as written
  EXPECT_EQ(table.rows[0].cells.back(), "1.0");
  EXPECT_EQ(table.rows[1].line, 4);
}

TEST(SweepTable, ABetaOrRhoThatIsNotAFiniteNumberIsRefusedByLineAndCell) {
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
    const std::string error = table_error(std::string(kHeader) + c.beta + "," + c.rho + rest);
    EXPECT_NE(error.find("sweep.csv: line 2: expected a finite number for " + c.column +
                         ", found " + c.shown + ";"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("sae sweep"), std::string::npos) << error;  // how to write it anew
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  // A bad row after good ones is named by its own line.
  EXPECT_NE(table_error(std::string(kHeader) + "0.01,0.05" + rest + "\n0.01,x" + rest)
                .find("sweep.csv: line 4: expected a finite number for rho, found 'x'"),
            std::string::npos);
}

TEST(SweepTable, ARowOfTheWrongLengthOrAForeignHeaderIsOneLineNamingIt) {
  const std::string header = kHeader;
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
  for (const std::string& text :
       {std::string(), std::string("rho,beta\n0.05,0.01\n"), std::string("beta\n0.01\n")}) {
    EXPECT_NE(table_error(text).find("sweep.csv: line 1: expected a header starting 'beta,rho,'"),
              std::string::npos)
        << table_error(text);
  }
  EXPECT_EQ(table_error(header), "");  // a table with no rows yet reads
}

}  // namespace
}  // namespace sae
