#include <gtest/gtest.h>

#include "sae/train/metrics.hpp"

#include <cmath>
#include <set>
#include <string>

namespace sae {
namespace {

TEST(Metrics, EveryKeyAndColumnIsNamedOnce) {
  EvalMetrics m;
  std::set<std::string> keys, epoch_columns, sweep_columns;
  int rows = 0;
  for_each_metric(m, [&](const MetricSpec& spec, const auto&) {
    ++rows;
    EXPECT_TRUE(keys.insert(spec.key).second) << spec.key;
    if (spec.epoch_column) EXPECT_TRUE(epoch_columns.insert(spec.epoch_column).second);
    if (spec.sweep_column) EXPECT_TRUE(sweep_columns.insert(spec.sweep_column).second);
  });
  EXPECT_EQ(keys.size(), static_cast<size_t>(rows));
  EXPECT_TRUE(keys.count("thresholded_mse"));
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
  EXPECT_EQ(dead_line, "63 of 64   (never above 0.5 on any test image)");
}

TEST(Metrics, JsonRoundTripsAndAnOlderFileLacksOnlyNewerRealMetrics) {
  EvalMetrics m;
  m.images = 10000;
  m.mse = 0.0625;
  m.thresholded_mse = 0.125;
  m.explained_variance = std::nan("");
  m.rho_hat = {0.5, 0.25};
  nlohmann::json json = to_json(m);
  EvalMetrics back;
  from_json(json, back);
  EXPECT_EQ(back.images, 10000);
  EXPECT_DOUBLE_EQ(back.mse, 0.0625);
  EXPECT_DOUBLE_EQ(back.thresholded_mse, 0.125);
  EXPECT_TRUE(std::isnan(back.explained_variance));
  EXPECT_EQ(back.rho_hat, m.rho_hat);

  json.erase("thresholded_mse");  // a summary.json written before the metric existed
  from_json(json, back);
  EXPECT_TRUE(std::isnan(back.thresholded_mse));
  json.erase("dead_units");  // a count is never optional
  EXPECT_THROW(from_json(json, back), nlohmann::json::exception);
}

}  // namespace
}  // namespace sae
