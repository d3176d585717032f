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

}  // namespace sae
