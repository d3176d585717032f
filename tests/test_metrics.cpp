#include <gtest/gtest.h>

#include "sae/train/metrics.hpp"

#include <cmath>
#include <set>
#include <string>
#include <vector>

namespace sae {
namespace {

TEST(Metrics, EveryKeyAndColumnIsNamedOnce) {
  EvalMetrics m;
  std::set<std::string> keys, epoch_columns, sweep_columns;
  int rows = 0;
  for_each_metric(m, [&](const MetricSpec& spec, const auto&) {
    ++rows;
    EXPECT_TRUE(keys.insert(spec.key).second) << spec.key;
    if (spec.epoch_column) {
      EXPECT_TRUE(epoch_columns.insert(spec.epoch_column).second);
    }
    if (spec.sweep_column) {
      EXPECT_TRUE(sweep_columns.insert(spec.sweep_column).second);
    }
  });
  EXPECT_EQ(keys.size(), static_cast<size_t>(rows));
  EXPECT_TRUE(keys.count("thresholded_mse"));
  EXPECT_TRUE(keys.count("fvu"));
  EXPECT_TRUE(keys.count("thresholded_fvu"));
  EXPECT_TRUE(epoch_columns.count("test_fvu"));
  EXPECT_TRUE(epoch_columns.count("test_thresholded_fvu"));
  EXPECT_TRUE(sweep_columns.count("fvu"));
  EXPECT_TRUE(sweep_columns.count("thresholded_fvu"));
}

TEST(Metrics, TheNewColumnsComeLastSoThatOlderFilesKeepTheirOrder) {
  // metrics.csv and sweep.csv read older files by matching the header in the table's order: a
  // metric added later goes after the ones before it (and before seconds, which is no column).
  std::vector<std::string> columns;
  EvalMetrics m;
  for_each_metric(m, [&](const MetricSpec& spec, const auto&) {
    if (spec.epoch_column) columns.push_back(spec.epoch_column);
  });
  ASSERT_GE(columns.size(), 3u);
  EXPECT_EQ(columns[columns.size() - 3], "test_thresholded_mse");
  EXPECT_EQ(columns[columns.size() - 2], "test_fvu");
  EXPECT_EQ(columns.back(), "test_thresholded_fvu");
}

TEST(Metrics, ALineIsTheValueInItsFormatThenItsNote) {
  EvalMetrics m;
  m.mean_rho_hat = 0.012345678;
  m.dead_units = 63;
  const MetricContext context{"kl", 0.01};
  std::string rho_line, dead_line;
  for_each_metric(m, [&](const MetricSpec& spec, const auto& value) {
    if (std::string(spec.key) == "mean_rho_hat") rho_line = format_metric(spec, value, context);
    if (std::string(spec.key) == "dead_units") dead_line = format_metric(spec, value, context);
  });
  EXPECT_EQ(rho_line, "0.01235   (target rho 0.01)");
  EXPECT_EQ(dead_line, "63 of 64   (never active (> 0.5) on any test image)");
}

/// The line `key`'s metric of `m` shows in `context`.
std::string line_of(const EvalMetrics& m, const std::string& key, const MetricContext& context) {
  std::string line;
  for_each_metric(m, [&](const MetricSpec& spec, const auto& value) {
    if (spec.key == key) line = format_metric(spec, value, context);
  });
  return line;
}

TEST(Metrics, TheNotesNameTheThresholdOfTheRunsKindOfCode) {
  EvalMetrics m;
  m.dead_units = 3;
  m.mean_l0 = 8;
  RunConfig sigmoid;
  const MetricContext original = metric_context(sigmoid);
  EXPECT_EQ(original.penalty, "kl");
  EXPECT_DOUBLE_EQ(original.threshold, 0.5);
  EXPECT_EQ(original.code, "sigmoid");
  EXPECT_EQ(line_of(m, "dead_units", original),
            "3 of 64   (never active (> 0.5) on any test image)");

  RunConfig topk;
  topk.code = CodeKind::kTopK;
  topk.k = 8;
  const MetricContext context = metric_context(topk);
  EXPECT_EQ(context.penalty, "none");  // what beta weighs for this code: nothing
  EXPECT_DOUBLE_EQ(context.threshold, 0.0);
  EXPECT_EQ(line_of(m, "dead_units", context), "3 of 64   (never active (> 0) on any test image)");
  EXPECT_EQ(line_of(m, "mean_l0", context),
            "8.00   (units per image above 0, active for topk codes)");
  EXPECT_NE(line_of(m, "thresholded_mse", context).find("(<= 0)"), std::string::npos);

  RunConfig relu;
  relu.code = CodeKind::kRelu;
  EXPECT_EQ(metric_context(relu).penalty, "l1");
  EXPECT_DOUBLE_EQ(metric_context(relu).threshold, 0.0);
}

TEST(Metrics, TheCodeLineNamesTheKindAndTheSettingsItReads) {
  RunConfig c;
  EXPECT_EQ(code_settings(c), "code sigmoid, penalty kl, beta 0.005, rho 0.01");
  c.penalty = Penalty::kNone;
  EXPECT_EQ(code_settings(c), "code sigmoid, penalty none");
  c = RunConfig();
  c.code = CodeKind::kTopK;
  c.k = 8;
  c.aux_coef = 0;  // AuxK off
  EXPECT_EQ(code_settings(c), "code topk, k 8");
  c.aux_coef = 0.0625;
  c.aux_k = 16;
  EXPECT_EQ(code_settings(c), "code topk, k 8, AuxK k 16 coef 0.0625");
  c = RunConfig();
  c.code = CodeKind::kJumpRelu;
  c.aux_coef = 0;
  EXPECT_EQ(code_settings(c), "code jumprelu, lambda 0.001, bandwidth 0.05");
  c = RunConfig();
  c.code = CodeKind::kRelu;
  c.aux_coef = 0;
  c.resample_every = 500;
  EXPECT_EQ(code_settings(c), "code relu, penalty l1, beta 0.005, resampled every 500 steps");
}

TEST(Metrics, JsonRoundTripsAndAnOlderFileLacksOnlyNewerRealMetrics) {
  EvalMetrics m;
  m.images = 10000;
  m.mse = 0.0625;
  m.thresholded_mse = 0.125;
  m.fvu = 0.25;
  m.thresholded_fvu = 0.5;
  m.explained_variance = std::nan("");
  m.rho_hat = {0.5, 0.25};
  nlohmann::json json = to_json(m);
  EvalMetrics back;
  from_json(json, back);
  EXPECT_EQ(back.images, 10000);
  EXPECT_DOUBLE_EQ(back.mse, 0.0625);
  EXPECT_DOUBLE_EQ(back.thresholded_mse, 0.125);
  EXPECT_DOUBLE_EQ(back.fvu, 0.25);
  EXPECT_DOUBLE_EQ(back.thresholded_fvu, 0.5);
  EXPECT_TRUE(std::isnan(back.explained_variance));
  EXPECT_EQ(back.rho_hat, m.rho_hat);

  json.erase("thresholded_mse");  // a summary.json written before the metric existed
  json.erase("fvu");
  json.erase("thresholded_fvu");
  from_json(json, back);
  EXPECT_TRUE(std::isnan(back.thresholded_mse));
  EXPECT_TRUE(std::isnan(back.fvu));
  EXPECT_TRUE(std::isnan(back.thresholded_fvu));
  json.erase("dead_units");  // a count is never optional
  EXPECT_THROW(from_json(json, back), nlohmann::json::exception);
}

}  // namespace
}  // namespace sae
