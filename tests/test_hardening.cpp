// Hostile but realistic input, end to end through the binary: full disks, numbers that go bad,
// values that slip through, stale sweeps, odd paths.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include "sae/base/atomic_file.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/train/device.hpp"
#include "sae/train/train.hpp"
#include "test_util.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::expect_clean_failure;
using test::read_text;
using test::run_sae;

std::string small_data() {
  return test::shared_data(200, 50);
}

/// What `sae train --data-dir small_data() --out run --epochs 1 --threads 1` leaves in `run`: a
/// copy of that run, trained once for the tests that go on from it (test::shared_run).
void one_epoch_run(const std::string& run) {
  test::copy_of_shared_run({"--data-dir", small_data(), "--epochs", "1", "--threads", "1"}, run);
}

void expect_no_temporary_files(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    EXPECT_FALSE(is_temporary_file_name(entry.path().filename().string())) << entry.path();
  }
}

/// A tmpfs of `size` mounted at `dir` while alive; mounted() is false where that is not allowed.
class SmallFilesystem {
 public:
  SmallFilesystem(const std::string& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ =
        geteuid() == 0 && mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallFilesystem() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

TEST(Hardening, AFullDiskFailsInOneLineAndNeverLeavesAMixedCheckpoint) {
  test::TempDir tmp;
  // Sizes that run out at different stages: config, model, optimizer, model.pt, pictures.
  for (const char* size : {"16k", "600k", "1200k", "2800k", "3600k", "4200k"}) {
    SCOPED_TRACE(size);
    const std::string disk = tmp / (std::string("disk-") + size);
    SmallFilesystem small(disk, size);
    if (!small.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root (and may be refused)";
    const std::string run = disk + "/run";
    // Errors only: two epochs on this data leave the explained variance below 0, which warns.
    const auto r = run_sae({"train", "--data-dir", small_data(), "--out", run, "--epochs", "2",
                            "--threads", "1", "--log-level", "error"});
    if (r.exit_code == 0) continue;  // it all fitted
    expect_clean_failure(r, "No space left on device");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.find(".tmp"), std::string::npos) << r.err;  // names the user's file
    expect_no_temporary_files(run);
    // Whatever was committed verifies.
    if (fs::exists(run + "/checkpoint.json")) {
      EXPECT_NO_THROW(read_checkpoint(run));
    }
  }
}

TEST(Hardening, WeightsThatBlowUpAreNeverCheckpointedNorEvaluated) {
  test::TempDir tmp;
  const auto r =
      run_sae({"train", "--data-dir", small_data(), "--out", tmp / "run", "--epochs", "2",
               "--batch-size", "100000", "--lr", "1e30", "--threads", "1", "--quiet"});
  expect_clean_failure(r, "non-finite");
  EXPECT_EQ(read_text(tmp / "run/metrics.csv").find("nan"), std::string::npos);
  if (const auto checkpoint = find_checkpoint(tmp / "run")) {
    auto model = load_model(checkpoint->model_path, torch::kCPU);
    EXPECT_TRUE(all_finite(model));
  }

  // A checkpoint with NaN weights (written by another tool, or an older sae) is refused.
  torch::manual_seed(0);
  SparseAutoencoder model;
  auto optimizer = make_optimizer(model, 1e-3, 0.0);
  {
    torch::NoGradGuard no_grad;
    model->dec2->weight[0][0][0][0] = std::nan("");
  }
  fs::create_directory(tmp / "nan");
  save_checkpoint(tmp / "nan", model, optimizer, RunConfig{}, TrainCursor{});
  expect_clean_failure(run_sae({"eval", "--checkpoint", tmp / "nan"}), "NaN or infinite");
}

TEST(Hardening, ValuesThatWouldSlipThroughAreRefused) {
  test::TempDir tmp;
  const std::vector<std::vector<std::string>> bad = {
      {"--rho", "1e-300"},
      {"--rho", "1e-50"},
      {"--beta", "inf"},
      {"--beta", ""},
      {"--seed", ""},
      {"--weight-decay", ""},
      {"--seed", "-1"},
      {"--seed", "18446744073709551616"},
      {"--seed", "9223372036854775808"},
      {"--epochs", "99999999999999999999"},
      {"--threads", ""},
  };
  for (const auto& flag : bad) {
    std::vector<std::string> args = {"train", "--data-dir", small_data(), "--out", tmp / "run"};
    args.insert(args.end(), flag.begin(), flag.end());
    const auto r = run_sae(args);
    SCOPED_TRACE(flag[0] + " '" + flag[1] + "'");
    expect_clean_failure(r, flag[0]);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_FALSE(fs::exists(tmp / "run"));
  }
  const auto sweep = run_sae(
      {"sweep", "--beta", "", "--rho", "0.05", "--data-dir", small_data(), "--out", tmp / "sweep"});
  expect_clean_failure(sweep, "--beta");
  EXPECT_FALSE(fs::exists(tmp / "sweep"));
}

TEST(Hardening, ACheckpointWithImpossibleValuesIsRefusedOnResume) {
  test::TempDir tmp;
  one_epoch_run(tmp / "run");
  auto manifest = nlohmann::json::parse(read_text(tmp / "run/checkpoint.json"));
  manifest["cursor"]["epoch"] = -5;
  write_file_atomically(tmp / "run/checkpoint.json", manifest.dump());
  expect_clean_failure(run_sae({"train", "--resume", tmp / "run", "--epochs", "3"}),
                       "negative counts");
}

TEST(Hardening, ASweepNeverReusesRunsTrainedWithOtherSettings) {
  test::TempDir tmp;
  const auto sweep = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        "sweep", "--beta",     "0.001,1e-3,0.0010", "--rho", "0.05",        "--epochs",
        "1",     "--data-dir", small_data(),        "--out", tmp / "sweep", "--threads",
        "1",     "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_sae(args);
  };
  ASSERT_EQ(sweep({}).exit_code, 0);
  // Equal values are one grid point: one run, one row.
  const std::string csv = read_text(tmp / "sweep/sweep.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2) << csv;
  const auto stale = sweep({"--lr", "0.01", "--seed", "9"});
  expect_clean_failure(stale, "--lr 0.001, not 0.01");
  EXPECT_NE(stale.err.find("--force"), std::string::npos) << stale.err;
  EXPECT_EQ(read_text(tmp / "sweep/sweep.csv"), csv);
  ASSERT_EQ(sweep({"--lr", "0.01", "--seed", "9", "--force"}).exit_code, 0);
  EXPECT_EQ(read_checkpoint(tmp / "sweep/beta=0.001_rho=0.05").config.lr, 0.01);
  // Bad data leaves no folder behind.
  const auto bad = run_sae(
      {"sweep", "--beta", "0", "--rho", "0.05", "--data-dir", tmp / "none", "--out", tmp / "bad"});
  expect_clean_failure(bad, "not found");
  EXPECT_FALSE(fs::exists(tmp / "bad"));
}

TEST(Hardening, CtrlCDuringAGridPointsFinalStageStopsTheSweep) {
  test::TempDir tmp;
  const std::string err = tmp / "err";
  const pid_t pid =
      test::spawn_sae({"sweep", "--beta", "0,0.01", "--rho", "0.05", "--epochs", "1", "--data-dir",
                       small_data(), "--out", tmp / "sweep", "--threads", "1"},
                      err);
  // The first point's last epoch is done: its pictures, probe and summary come next.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_text(err).find("epoch 1/1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << read_text(err);
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_text(err);
  EXPECT_FALSE(fs::exists(tmp / "sweep/beta=0.01_rho=0.05/summary.json"));
  EXPECT_FALSE(fs::exists(tmp / "sweep/sweep.csv"));
}

TEST(Hardening, PathsAndMessagesSayWhatTheUserMeant) {
  test::TempDir tmp;
  // A data folder that is no UTF-8 cannot be stored in config.toml: refused before anything.
  const auto latin1 = run_sae({"train", "--data-dir", tmp / "caf\xe9", "--out", tmp / "run"});
  expect_clean_failure(latin1, "UTF-8");
  EXPECT_FALSE(fs::exists(tmp / "run"));
  // A DEL byte is escaped, so the written config reads back.
  const auto del = run_sae({"train", "--data-dir",
                            "data\x7f"
                            "dir",
                            "--print-config"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  const auto parsed = toml::parse(del.out);
  EXPECT_EQ(parsed["train"]["data-dir"].value_or(std::string()),
            "data\x7f"
            "dir");
  // A file given as the data folder, said as such.
  std::ofstream(tmp / "file") << "x";
  expect_clean_failure(run_sae({"train", "--data-dir", tmp / "file", "--out", tmp / "run"}),
                       "a file, not a data folder");
  // A config with a byte-order mark, as some editors write it.
  std::ofstream(tmp / "bom.toml") << "\xEF\xBB\xBF[train]\nepochs = 4\n";
  const auto bom = run_sae({"train", "--config", tmp / "bom.toml", "--print-config"});
  ASSERT_EQ(bom.exit_code, 0) << bom.err;
  EXPECT_NE(bom.out.find("epochs = 4\n"), std::string::npos) << bom.out;
  // Too many threads: a warning, not silence (said before the checkpoint is even opened).
  const std::string too_many = std::to_string(available_cores() + 1);
  const auto threads = run_sae({"eval", "--checkpoint", tmp / "nowhere", "--threads", too_many});
  EXPECT_NE(threads.err.find("--threads " + too_many + " is more than"), std::string::npos)
      << threads.err;
}

TEST(Hardening, ResumeSaysWhatIsMissingAndRefusesASecondConfig) {
  test::TempDir tmp;
  one_epoch_run(tmp / "run");
  std::ofstream(tmp / "other.toml") << "[train]\nepochs = 3\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "other.toml", "--resume", tmp / "run"}),
                       "drop --config");
  expect_clean_failure(run_sae({"train", "--resume", tmp / "run", "--config", tmp / "other.toml"}),
                       "drop --config");
  fs::remove(tmp / "run/config.toml");
  const auto missing = run_sae({"train", "--resume", tmp / "run", "--epochs", "2"});
  expect_clean_failure(missing, "config.toml is missing");
  EXPECT_EQ(missing.err.find("--config"), std::string::npos) << missing.err;
}

TEST(Hardening, AHostileConfigIsRefusedCheaplyAlsoThroughResume) {
  test::TempDir tmp;
  std::string deep = "[train]\nepochs=1\n[a";
  for (int i = 1; i < 5000; ++i) deep += ".a";
  std::ofstream(tmp / "deep.toml") << deep << "]\nx=1\n";
  const auto refused = run_sae({"train", "--config", tmp / "deep.toml", "--print-config"});
  expect_clean_failure(refused, tmp / "deep.toml" + ":3:");
  EXPECT_NE(refused.err.find("TOML"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.exit_code, 2);
  // A run folder's config.toml is read the same way by --resume.
  one_epoch_run(tmp / "run");
  fs::copy_file(tmp / "deep.toml", tmp / "run/config.toml", fs::copy_options::overwrite_existing);
  expect_clean_failure(run_sae({"train", "--resume", tmp / "run", "--epochs", "2"}),
                       "run/config.toml:3:");
  // Keys outside [train], unknown keys and tables are named where they stand.
  std::ofstream(tmp / "outside.toml") << "epochs = 2\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "outside.toml"}),
                       "outside.toml:1:1: TOML: 'epochs' sits outside any table");
  std::ofstream(tmp / "unknown.toml") << "[train]\n\nbetta = 2\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "unknown.toml"}),
                       "unknown.toml:3:1: TOML: 'betta' is not a setting");
  std::ofstream(tmp / "value.toml") << "[train]\nepochs = 'many'\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "value.toml"}),
                       "value.toml:2:1: epochs");
}

TEST(Hardening, ARefusedOutFolderGetsNoLockFile) {
  test::TempDir tmp;
  const std::string data = small_data();
  fs::create_directories(tmp / "x");
  std::ofstream(tmp / "x/notes.txt") << "mine";
  for (const bool force : {false, true}) {
    std::vector<std::string> args = {"train",   "--data-dir", data, "--out",
                                     tmp / "x", "--epochs",   "1"};
    if (force) args.push_back("--force");  // a folder that holds no run: refused even so
    const auto r = run_sae(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_FALSE(fs::exists(tmp / "x/.lock"));
  }
  // A config file's `out` is refused the same way.
  std::ofstream(tmp / "out.toml") << "[train]\nout = \"" << tmp / "x"
                                  << "\"\nepochs = 1\n";
  EXPECT_EQ(run_sae({"train", "--config", tmp / "out.toml", "--data-dir", data}).exit_code, 2);
  EXPECT_FALSE(fs::exists(tmp / "x/.lock"));
  // An empty --out or --resume is a usage error, not the default folder.
  expect_clean_failure(run_sae({"train", "--data-dir", data, "--out", ""}), "--out");
  expect_clean_failure(run_sae({"train", "--resume", ""}), "--resume");
}

TEST(Hardening, AHugeBatchSizeTrainsOneBatchPerEpoch) {
  test::TempDir tmp;
  const auto r = run_sae({"train", "--data-dir", small_data(), "--out", tmp / "run", "--epochs",
                          "1", "--threads", "1", "--quiet", "--batch-size", "9223372036854775807"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string metrics = read_text(tmp / "run/metrics.csv");
  EXPECT_EQ(metrics.find("nan"), std::string::npos) << metrics;
  EXPECT_EQ(read_checkpoint(tmp / "run").cursor.steps, 1);
}

TEST(Hardening, SweepListsAndShardsAreReadStrictly) {
  test::TempDir tmp;
  for (const char* betas : {"1,,2", "1,", ",", "0.1,x", "1e400"}) {
    expect_clean_failure(
        run_sae({"sweep", "--beta", betas, "--rho", "0.01", "--out", tmp / "s", "--epochs", "1"}),
        "--beta");
  }
  expect_clean_failure(
      run_sae({"sweep", "--beta", "0", "--rho", "0.01;0.02", "--out", tmp / "s", "--epochs", "1"}),
      "--rho");
  // Repeated flags still add up, as they did: the bad item is found in the second.
  expect_clean_failure(run_sae({"sweep", "--beta", "0", "--beta", "0.1,", "--rho", "0.01", "--out",
                                tmp / "s", "--epochs", "1"}),
                       "--beta 0,0.1,: item 3 is empty");
  expect_clean_failure(
      run_sae({"sweep", "--beta", "0", "--rho", "0.01", "--out", tmp / "s", "--shard", " 1/2"}),
      "--shard");
  // A negative number after a list flag is a value, not a flag ("At Most 1 required" once).
  expect_clean_failure(
      run_sae({"sweep", "--beta", "0,0.1", "--rho", "0.01", "--threads", "-2", "--out", tmp / "s"}),
      "--threads must be 0 (one per core) or more, got -2");
  EXPECT_FALSE(fs::exists(tmp / "s"));
}

}  // namespace
}  // namespace sae
