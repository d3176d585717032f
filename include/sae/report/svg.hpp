#pragma once
// Small inline SVG charts for the report pages (line charts of per-epoch values, activation
// histograms), each with its axes, ticks and labels, as text to put in an HTML page.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sae {

/// One line of a LineChart.
struct ChartSeries {
  std::string label;           ///< in the legend; "" for a chart's only line
  std::vector<double> values;  ///< one per x; NaN: no point there
  std::string color;           ///< an SVG colour
};

/// A small line chart over whole numbers on x (epochs).
struct LineChart {
  std::string title;  ///< above the plot: what y is
  std::string x_label = "epoch";
  std::vector<int64_t> x;  ///< increasing
  std::vector<ChartSeries> series;
  bool integer_values = false;  ///< y ticks on whole numbers only (counts)
  bool from_zero = false;       ///< the y axis reaches down to 0
  double reference = std::numeric_limits<double>::quiet_NaN();  ///< a dashed line, if finite
  std::string reference_label;                                  ///< beside it
};

/// The chart as an <svg> element: axes, whole-number x ticks, rounded y ticks, one
/// <polyline class="series"> per series that has a finite value (a point for each), and a dot at
/// each point when there are few, so that a single epoch shows too. "" when no value is finite.
std::string line_chart_svg(const LineChart& chart);

/// An activation histogram as an <svg> element: `counts` (one per bin, over [low, high]) as bars of
/// height log(1 + count); the x axis labelled `x_label` with low and high at its ends, the y axis
/// "log count" with the counts 1, 10, 100, ... marked.
std::string histogram_svg(const std::vector<double>& counts, double low, double high,
                          const std::string& x_label);

}  // namespace sae
