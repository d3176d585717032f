#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "sae/base/errors.hpp"
#include "sae/store/run_folder.hpp"
#include "test_util.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace sae {
namespace {

namespace fs = std::filesystem;

/// Runs the test in `dir` as the current folder, and returns to the old one at scope exit (the
/// TempDir is removed after, and the other tests must not find themselves in a deleted folder).
class CurrentDir {
 public:
  explicit CurrentDir(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~CurrentDir() {
    std::error_code ec;
    fs::current_path(old_, ec);
  }
  CurrentDir(const CurrentDir&) = delete;
  CurrentDir& operator=(const CurrentDir&) = delete;

 private:
  fs::path old_;
};

void touch(const std::string& path) {
  std::ofstream(path) << "x";
}

/// What `prepare_new_run_dir` says, or "" when it accepts the folder.
std::string refusal(const std::string& dir, bool force) {
  try {
    prepare_new_run_dir(dir, force);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(RunFolder, MetricsCsvRoundTripsIncludingNan) {
  test::TempDir dir;
  EpochMetrics a;
  a.epoch = 1;
  a.train_loss = 0.25;
  a.test.mse = 0.0123456789;
  a.test.explained_variance = std::nan("");  // a constant test set has no variance to explain
  a.test.dead_units = 7;
  a.test.fvu = 0.375;
  a.train_dead_units = 3;
  a.images_per_s = 1234.5;
  EpochMetrics b = a;
  b.epoch = 2;
  b.test.explained_variance = 0.5;
  b.train_dead_units = 0;
  write_metrics_csv(dir / "metrics.csv", {a, b});
  const auto rows = read_metrics_csv(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].epoch, 1);
  EXPECT_DOUBLE_EQ(rows[0].train_loss, 0.25);
  EXPECT_NEAR(rows[0].test.mse, 0.0123456789, 1e-10);  // 8 significant digits
  EXPECT_TRUE(std::isnan(rows[0].test.explained_variance));
  EXPECT_EQ(rows[0].test.dead_units, 7);
  EXPECT_DOUBLE_EQ(rows[0].test.fvu, 0.375);
  EXPECT_EQ(rows[0].train_dead_units, 3);
  EXPECT_EQ(rows[1].train_dead_units, 0);
  EXPECT_DOUBLE_EQ(rows[1].test.explained_variance, 0.5);
  // Rewriting what was read gives the same file: a resumed run appends without drift.
  const std::string before = test::read_text(dir / "metrics.csv");
  write_metrics_csv(dir / "metrics.csv", rows);
  EXPECT_EQ(test::read_text(dir / "metrics.csv"), before);
}

TEST(RunFolder, MetricsCsvOfAValidationSplitNamesItsColumnsValAndReadsBack) {
  test::TempDir dir;
  EpochMetrics row;
  row.epoch = 1;
  row.test.mse = 0.5;
  row.on_validation = true;
  write_metrics_csv(dir / "metrics.csv", {row}, /*validation=*/true);
  const std::string text = test::read_text(dir / "metrics.csv");
  EXPECT_NE(text.find("train_kl,val_loss,val_mse,"), std::string::npos) << text;
  const auto rows = read_metrics_csv(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].on_validation);
  EXPECT_DOUBLE_EQ(rows[0].test.mse, 0.5);
}

TEST(RunFolder, StepsCsvAppendsAndATrimKeepsTheCommittedStepsAndDropsACutLine) {
  test::TempDir dir;
  const std::string path = dir / "steps.csv";
  for (int64_t step = 10; step <= 40; step += 10) {
    append_steps_csv(path, {step, 1, 0.5, 0.25, 0.25, 3.5, 1e-3, 1000.0});
  }
  EXPECT_EQ(read_steps_csv(path).size(), 4u);
  {
    std::ofstream out(path, std::ios::app);
    out << "50,1,0.5,0.2";  // a kill in the middle of a write
  }
  EXPECT_EQ(read_steps_csv(path).size(), 4u);
  trim_steps_csv(path, /*last_step=*/25);
  const auto rows = read_steps_csv(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].step, 20);
  EXPECT_DOUBLE_EQ(rows[1].l0, 3.5);
  append_steps_csv(path, {30, 1, 0.5, 0.25, 0.25, 3.5, 1e-3, 1000.0});
  EXPECT_EQ(test::read_text(path).rfind("step,epoch,loss,mse,penalty,l0,lr,images_per_s\n10,", 0),
            0u);
  EXPECT_EQ(read_steps_csv(path).size(), 3u);
  std::ofstream(path) << "step,epoch\n1,1\n";
  EXPECT_THROW(read_steps_csv(path), std::runtime_error);
}

TEST(RunFolder, MetricsCsvOfAnOlderRunLacksTheNewerColumnsWhichReadAsNan) {
  // metrics.csv before thresholded_mse existed: the same columns, that one left out.
  test::TempDir dir;
  std::ofstream(dir / "metrics.csv")
      << "epoch,train_loss,train_mse,train_kl,test_loss,test_mse,test_kl,"
         "test_explained_variance,test_mean_rho_hat,test_dead_units,test_far_units,test_l0,"
         "seconds,images_per_s\n"
         "1,0.5,0.25,3,0.4,0.125,2.5,0.75,0.01,63,1,0.0625,12.5,4000\n";
  const auto rows = read_metrics_csv(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].test.mse, 0.125);
  EXPECT_EQ(rows[0].test.dead_units, 63);
  EXPECT_DOUBLE_EQ(rows[0].test.mean_l0, 0.0625);
  EXPECT_DOUBLE_EQ(rows[0].images_per_s, 4000);
  EXPECT_TRUE(std::isnan(rows[0].test.thresholded_mse));
  EXPECT_TRUE(std::isnan(rows[0].test.fvu));
  EXPECT_TRUE(std::isnan(rows[0].test.thresholded_fvu));
  EXPECT_EQ(rows[0].train_dead_units, -1);  // not recorded
  // Columns out of order, or unknown, are refused.
  std::ofstream(dir / "swapped.csv") << "epoch,train_mse,train_loss\n1,2,3\n";
  EXPECT_THROW(read_metrics_csv(dir / "swapped.csv"), std::runtime_error);
}

TEST(RunFolder, MetricsCsvBeforeTheCodeKindsReadsWithoutTrainDeadUnitsOrFvu) {
  // metrics.csv as issue 21's sae wrote it: thresholded_mse, but no FVU and no training dead units.
  test::TempDir dir;
  std::ofstream(dir / "metrics.csv")
      << "epoch,train_loss,train_mse,train_kl,test_loss,test_mse,test_kl,"
         "test_explained_variance,test_mean_rho_hat,test_dead_units,test_far_units,test_l0,"
         "test_thresholded_mse,seconds,images_per_s\n"
         "1,0.5,0.25,3,0.4,0.125,2.5,0.75,0.01,63,1,0.0625,0.0961,12.5,4000\n"
         "2,0.5,0.25,3,0.4,0.125,2.5,0.75,0.01,62,1,0.0625,0.0962,12.5,4000\n";
  const auto rows = read_metrics_csv(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows[1].test.thresholded_mse, 0.0962);
  EXPECT_EQ(rows[1].test.dead_units, 62);
  EXPECT_EQ(rows[1].train_dead_units, -1);
  EXPECT_TRUE(std::isnan(rows[1].test.fvu));
  EXPECT_DOUBLE_EQ(rows[1].images_per_s, 4000);
  // Written back, the file gains the new columns, and reads back the same.
  write_metrics_csv(dir / "metrics.csv", rows);
  const std::string text = test::read_text(dir / "metrics.csv");
  const std::string header = text.substr(0, text.find('\n'));
  EXPECT_NE(header.find(",test_fvu,test_thresholded_fvu,train_dead_units,seconds,"),
            std::string::npos)
      << header;
  const auto again = read_metrics_csv(dir / "metrics.csv");
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[1].train_dead_units, -1);
  EXPECT_DOUBLE_EQ(again[1].test.thresholded_mse, 0.0962);
}

TEST(RunFolder, SummaryJsonRoundTripsEveryMetric) {
  test::TempDir dir;
  RunSummary written;
  double next = 0.5;
  for_each_metric(written.test, [&](const MetricSpec&, auto& value) {
    using T = std::remove_reference_t<decltype(value)>;
    value = static_cast<T>(next);  // a different value for each metric
    next += 1.25;
  });
  written.test.explained_variance = std::nan("");  // JSON's null, read back as NaN
  written.test.rho_hat.assign(64, 0.25);
  written.test.unit_kl.assign(64, 0.125);
  written.test.max_activation.assign(64, 0.75);
  written.probe.test_accuracy = 0.875;
  written.probe.train_accuracy = 0.9;
  written.pixel_probe.test_accuracy = 0.9125;
  written.pixel_probe.train_accuracy = 0.95;
  written.train_dead_units = 5;
  written.seconds = 12.5;
  write_summary_json(dir / "summary.json", written);
  const RunSummary read = read_summary_json(dir / "summary.json");
  int compared = 0;
  for_each_metric(written.test, [&](const MetricSpec& spec, const auto& value) {
    double got = 0;
    for_each_metric(read.test, [&](const MetricSpec& other, const auto& v) {
      if (std::string(other.key) == spec.key) got = static_cast<double>(v);
    });
    if (std::isnan(static_cast<double>(value))) {
      EXPECT_TRUE(std::isnan(got)) << spec.key;
    } else {
      EXPECT_DOUBLE_EQ(got, static_cast<double>(value)) << spec.key;
    }
    ++compared;
  });
  EXPECT_GE(compared, 12);
  EXPECT_EQ(read.test.rho_hat, written.test.rho_hat);
  EXPECT_EQ(read.test.max_activation, written.test.max_activation);
  EXPECT_DOUBLE_EQ(read.probe.test_accuracy, 0.875);
  EXPECT_DOUBLE_EQ(read.probe.train_accuracy, 0.9);
  EXPECT_DOUBLE_EQ(read.pixel_probe.test_accuracy, 0.9125);
  EXPECT_DOUBLE_EQ(read.pixel_probe.train_accuracy, 0.95);
  EXPECT_EQ(read.train_dead_units, 5);
  EXPECT_DOUBLE_EQ(read.seconds, 12.5);
}

TEST(RunFolder, SummaryJsonBeforeThePixelProbeAndTrainDeadUnitsStillReads) {
  test::TempDir dir;
  RunSummary written;
  written.test.rho_hat.assign(64, 0.25);
  written.test.unit_kl.assign(64, 0.125);
  written.test.max_activation.assign(64, 0.75);
  written.probe.test_accuracy = 0.875;
  write_summary_json(dir / "summary.json", written);
  auto json = nlohmann::json::parse(test::read_text(dir / "summary.json"));
  for (const char* key :
       {"pixel_probe_accuracy", "pixel_probe_train_accuracy", "train_dead_units"}) {
    ASSERT_TRUE(json.contains(key)) << key;
    json.erase(key);
  }
  json["test"].erase("fvu");
  std::ofstream(dir / "old.json") << json.dump(2);
  const RunSummary read = read_summary_json(dir / "old.json");
  EXPECT_DOUBLE_EQ(read.probe.test_accuracy, 0.875);
  EXPECT_TRUE(std::isnan(read.pixel_probe.test_accuracy));
  EXPECT_TRUE(std::isnan(read.pixel_probe.train_accuracy));
  EXPECT_EQ(read.train_dead_units, -1);
  EXPECT_TRUE(std::isnan(read.test.fvu));
  // The fields that were always there stay required.
  json.erase("probe_accuracy");
  std::ofstream(dir / "broken.json") << json.dump(2);
  EXPECT_THROW(read_summary_json(dir / "broken.json"), std::runtime_error);
}

TEST(RunFolder, MalformedMetricsCsvNamesTheLine) {
  test::TempDir dir;
  write_metrics_csv(dir / "metrics.csv", {EpochMetrics{}});
  std::ofstream(dir / "metrics.csv", std::ios::app) << "2,0.1,oops\n";
  try {
    read_metrics_csv(dir / "metrics.csv");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(RunFolder, ASymlinkedLockIsReplacedNotFollowed) {
  // `ln -s ~/.bashrc RUN/.lock` once had the lock's pid written over the link's target.
  test::TempDir dir;
  test::TempDir outside;
  std::ofstream(outside / "precious") << "keep me";
  fs::create_symlink(outside / "precious", dir / kLockFile);
  {
    const RunLock lock(dir.path().string());
    EXPECT_FALSE(fs::is_symlink(dir / kLockFile));
  }
  EXPECT_EQ(test::read_text(outside / "precious"), "keep me");
}

TEST(RunFolder, AnEmptyFolderOrOneWithOnlyItsLockIsReadyForANewRun) {
  test::TempDir dir;
  EXPECT_EQ(refusal(dir.path().string(), /*force=*/false), "");
  const RunLock lock(dir.path().string());  // the lock comes first; its file is no run's
  EXPECT_TRUE(fs::exists(dir / kLockFile));
  EXPECT_EQ(refusal(dir.path().string(), /*force=*/false), "");
  EXPECT_TRUE(fs::exists(dir / kLockFile));
}

TEST(RunFolder, ForceClearsTheOldRunsFilesAndRefusalKeepsThem) {
  test::TempDir dir;
  const std::vector<std::string> run_files = {
      kConfigFile,
      kManifestFile,
      kModelFile,
      kMetricsFile,
      kLossPlotFile,
      kSummaryFile,
      kReconstructionsFile,
      "units.png",
      "activations.png",
      "atoms.png",
      "top.png",
      "model-00000012.pt",
      "optimizer-00000012.pt",  // a commit's step files
      "model.tmpAb12Cd.pt",
      "metrics.tmpXy34Zw.csv",  // writes a crash cut short
  };
  const std::vector<std::string> other_files = {"notes.txt", "model-final.pt"};
  for (const auto& name : run_files) touch(dir / name);
  for (const auto& name : other_files) touch(dir / name);
  fs::create_directory(dir / "plots");
  touch(dir / "plots/units.png");  // not the run's: it is in a subfolder
  const RunLock lock(dir.path().string());

  const std::string message = refusal(dir.path().string(), /*force=*/false);
  EXPECT_NE(message.find("--force"), std::string::npos) << message;
  EXPECT_NE(message.find("--resume"), std::string::npos) << message;
  for (const auto& name : run_files) EXPECT_TRUE(fs::exists(dir / name)) << name;

  EXPECT_EQ(refusal(dir.path().string(), /*force=*/true), "");
  for (const auto& name : run_files) EXPECT_FALSE(fs::exists(dir / name)) << name;
  for (const auto& name : other_files) EXPECT_TRUE(fs::exists(dir / name)) << name;
  EXPECT_TRUE(fs::exists(dir / "plots/units.png"));
  EXPECT_TRUE(fs::exists(dir / kLockFile));
}

TEST(RunFolder, ForceRefusesAFolderThatHoldsNoRun) {
  test::TempDir dir;
  touch(dir / "notes.txt");
  touch(dir / "tmp.txt");
  EXPECT_NE(refusal(dir.path().string(), /*force=*/false).find("already holds files"),
            std::string::npos);
  const std::string message = refusal(dir.path().string(), /*force=*/true);
  EXPECT_NE(message.find("holds no run"), std::string::npos) << message;
  EXPECT_TRUE(fs::exists(dir / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir / "tmp.txt"));
}

TEST(RunFolder, ASecondLockOnTheSameFolderIsRefusedNamingTheHolder) {
  test::TempDir dir;
  const std::string pid = "pid " + std::to_string(::getpid());
  {
    std::optional<RunLock> first(std::in_place, dir.path().string());
    EXPECT_EQ(test::read_text(dir / kLockFile), pid);
    // flock locks belong to the open file description: a second open conflicts even in the same
    // process, as it would in another.
    try {
      RunLock second(dir.path().string());
      FAIL() << "two locks on one folder";
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("in use"), std::string::npos) << message;
      EXPECT_NE(message.find(pid), std::string::npos) << message;
      EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;
    }
    // A moved lock is still held; the moved-from one releases nothing.
    RunLock moved(std::move(*first));
    first.reset();
    EXPECT_THROW(RunLock{dir.path().string()}, std::runtime_error);
  }
  EXPECT_NO_THROW(RunLock{dir.path().string()});  // released with the last owner
  EXPECT_NO_THROW(RunLock{dir.path().string()});  // and again: each lock released its own
}

TEST(RunFolder, LockingAMissingFolderSaysSo) {
  test::TempDir dir;
  try {
    RunLock lock(dir / "missing");
    FAIL() << "locked a folder that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot lock " + (dir / "missing")), std::string::npos)
        << e.what();
  }
}

TEST(RunFolder, DefaultRunFoldersInTheSameSecondGetSuffixes) {
  test::TempDir dir;
  const CurrentDir in(dir.path());
  const std::regex stamp(R"(runs/[0-9]{8}-[0-9]{6})");
  std::string first, second, third;
  // Back to back they almost always share a second; when the clock ticks between, try again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    fs::remove_all("runs");
    first = claim_default_run_dir();
    second = claim_default_run_dir();
    third = claim_default_run_dir();
    if (second.rfind(first, 0) == 0 && third.rfind(first, 0) == 0) break;
  }
  EXPECT_TRUE(std::regex_match(first, stamp)) << first;
  EXPECT_EQ(second, first + "-2");
  EXPECT_EQ(third, first + "-3");
  for (const auto& claimed : {first, second, third}) {
    EXPECT_TRUE(fs::is_directory(claimed)) << claimed;
    EXPECT_TRUE(fs::is_empty(claimed)) << claimed;
  }
}

}  // namespace
}  // namespace sae
