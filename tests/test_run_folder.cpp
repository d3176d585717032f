#include <gtest/gtest.h>

#include "sae/run_folder.hpp"
#include "test_util.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>

namespace sae {
namespace {

TEST(RunFolder, MetricsCsvRoundTripsIncludingNan) {
  test::TempDir dir;
  EpochMetrics a;
  a.epoch = 1;
  a.train_loss = 0.25;
  a.test_mse = 0.0123456789;
  a.test_explained_variance = std::nan("");  // a constant test set has no variance to explain
  a.test_dead_units = 7;
  a.images_per_s = 1234.5;
  EpochMetrics b = a;
  b.epoch = 2;
  b.test_explained_variance = 0.5;
  write_metrics_csv(dir / "metrics.csv", {a, b});
  const auto rows = read_metrics_csv(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].epoch, 1);
  EXPECT_DOUBLE_EQ(rows[0].train_loss, 0.25);
  EXPECT_NEAR(rows[0].test_mse, 0.0123456789, 1e-10);  // 8 significant digits
  EXPECT_TRUE(std::isnan(rows[0].test_explained_variance));
  EXPECT_EQ(rows[0].test_dead_units, 7);
  EXPECT_DOUBLE_EQ(rows[1].test_explained_variance, 0.5);
  // Rewriting what was read gives the same file: a resumed run appends without drift.
  const std::string before = test::read_text(dir / "metrics.csv");
  write_metrics_csv(dir / "metrics.csv", rows);
  EXPECT_EQ(test::read_text(dir / "metrics.csv"), before);
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

TEST(RunFolder, ForceClearsTheOldRunsFilesAndRefusalKeepsThem) {
  test::TempDir dir;
  const std::string run = dir / "run";
  std::filesystem::create_directory(run);
  std::ofstream(run + "/summary.json") << "{}";
  EXPECT_THROW(prepare_run_dir(run, /*force=*/false), std::invalid_argument);
  EXPECT_TRUE(std::filesystem::exists(run + "/summary.json"));
  prepare_run_dir(run, /*force=*/true);
  EXPECT_FALSE(std::filesystem::exists(run + "/summary.json"));
}

}  // namespace
}  // namespace sae
