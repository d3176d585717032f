#pragma once

#include <string>
#include <vector>

namespace sae {

/// One named line on a plot.
struct Series {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
};

/// Draws `series` as lines with point markers on one set of axes, with a legend, to a PNG (PLplot's
/// pngcairo device, headless), atomically.
void plot_lines(const std::string& path, const std::string& title, const std::string& x_label,
                const std::string& y_label, const std::vector<Series>& series, bool log_y = false);

/// Bars of `values` in the given order (x = 0..n-1), with a dashed horizontal line at `reference`
/// labelled in the legend with `reference_label`; log10 y axis when `log_y`.
void plot_bars(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<double>& values, double reference,
               const std::string& reference_label, bool log_y = false);

/// One histogram panel.
struct Histogram {
  std::string title;
  std::string x_label;
  // Binned into `bins` equal bins over [lo, hi]; values outside are clamped into the end bins.
  std::vector<double> values;
  int bins = 50;
  double lo = 0.0;
  double hi = 1.0;
  bool log_counts = false;  // log10 count axis (empty bins drawn as nothing)
};

/// Draws the panels side by side in one PNG (e.g. 1400x600 for two).
void plot_histograms(const std::string& path, const std::vector<Histogram>& panels);

/// A point with a text label drawn beside it.
struct LabelledPoint {
  double x = 0.0;
  double y = 0.0;
  std::string label;
};

/// Scatter plot of labelled points (each label written next to its point, small font, readable),
/// e.g. test MSE against mean L0 for a sweep. A positive `log_x_floor` puts x on a log10 axis,
/// with x values below the floor drawn at it.
void plot_labelled_points(const std::string& path, const std::string& title,
                          const std::string& x_label, const std::string& y_label,
                          const std::vector<LabelledPoint>& points, double log_x_floor = 0.0);

}  // namespace sae
