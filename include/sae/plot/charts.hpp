#pragma once
// Line charts, bar charts, histograms, labelled scatter plots and frontiers as PNG files, drawn
// headless by PLplot's pngcairo device. Each picture is rendered whole in a private temporary
// folder and only then published atomically: a failed render leaves the previous file in place
// and throws.

#include <optional>
#include <string>
#include <vector>

namespace sae {

/// How an axis spaces its values.
enum class Scale {
  kLinear,  ///< equal steps of value
  kLog10,   ///< equal steps of decade; values <= 0 need Axis::floor to be drawn
};

/// One axis of a frame.
struct Axis {
  std::string label;             ///< written along the axis
  Scale scale = Scale::kLinear;  ///< linear or log10
  double floor = 0.0;            ///< log axes only: values below it are drawn at it; 0: left out
};

/// What every picture has: its title, its two axes and its size.
struct PlotSpec {
  std::string title;  ///< above the frame
  Axis x;             ///< the horizontal axis
  Axis y;             ///< the vertical axis
  int width = 800;    ///< pixels; for histograms, of each panel
  int height = 600;   ///< pixels
};

/// One named line on a plot.
struct Series {
  std::string label;      ///< its legend entry
  std::vector<double> x;  ///< as many as y; points that cannot be drawn are skipped
  std::vector<double> y;  ///< as many as x
};

/// Draws `series` as lines with point markers on one set of axes, with a legend placed where it
/// hides the least of them; a lone point still gets a range around it.
void plot_lines(const std::string& path, const PlotSpec& spec, const std::vector<Series>& series);

/// A dashed horizontal line across a bar chart, named in the legend.
struct ReferenceLine {
  double y = 0.0;     ///< its height; must be drawable on the y axis
  std::string label;  ///< its legend entry; empty: no legend
};

/// Bars at x = 0, 1, ..., n-1, standing on zero (on the frame's bottom on a log y axis).
struct Bars {
  std::vector<double> heights;             ///< in order; ones that cannot be drawn are gaps
  std::optional<ReferenceLine> reference;  ///< none: no line
};

/// Draws `bars` as a bar chart; spec.x must be linear (x is the bars' index).
void plot_bars(const std::string& path, const PlotSpec& spec, const Bars& bars);

/// One histogram panel.
struct Histogram {
  PlotSpec spec;               ///< title, axes (y counts; log10 y draws empty bins as nothing)
  std::vector<double> values;  ///< non-finite ones are skipped, ones outside [lo, hi] clamped in
  int bins = 50;               ///< equal bins over [lo, hi], 1 to 100000
  double lo = 0.0;             ///< left edge of the first bin
  double hi = 1.0;             ///< right edge of the last bin
};

/// Draws the panels side by side in one picture (each spec.width x spec.height, all the same
/// size); each spec.x must be linear.
void plot_histograms(const std::string& path, const std::vector<Histogram>& panels);

/// A point with a text label drawn beside it.
struct LabelledPoint {
  double x = 0.0;     ///< position on the x axis
  double y = 0.0;     ///< position on the y axis
  std::string label;  ///< small text beside the point; empty: none
};

/// Scatter plot of `points`, each label placed beside its point where it stays inside the frame
/// and clear of the other points and labels; e.g. test MSE against mean L0 for a sweep.
void plot_labelled_points(const std::string& path, const PlotSpec& spec,
                          const std::vector<LabelledPoint>& points);

/// One curve of a frontier plot, e.g. the runs of one kind of code.
struct FrontierCurve {
  std::string label;                  ///< its legend entry
  std::vector<LabelledPoint> points;  ///< in any order; ones that cannot be drawn are skipped
};

/// Which of `points` are Pareto-optimal when lower is better on both axes: no other point is as
/// low on both and lower on one. A point with a value that is not finite is not, and beats none.
std::vector<bool> pareto_optimal(const std::vector<LabelledPoint>& points);

/// Draws each curve's Pareto-optimal points (of those that can be drawn) joined in order of x,
/// its other points as hollow markers left unjoined, every point labelled, and a legend naming
/// the curves (and the hollow markers, when there are some). A curve with no point to draw keeps
/// its legend entry; with none at all the frame spans [1, 10] (log) or [0, 1] on x and [0, 1] on y.
void plot_frontier(const std::string& path, const PlotSpec& spec,
                   const std::vector<FrontierCurve>& curves);

}  // namespace sae
