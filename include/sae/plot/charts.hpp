#pragma once
// Line charts, bar charts, histograms and grouped scatter plots with their Pareto fronts as PNG
// files, drawn headless by PLplot's pngcairo device. Each picture is rendered whole in a private
// temporary folder and only then published atomically: a failed render leaves the previous file
// in place and throws.

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
  bool integers = false;         ///< linear axes only: ticks on whole numbers only (epochs)
};

/// What every picture has: its title, its two axes and its size.
struct PlotSpec {
  std::string title;  ///< above the frame
  Axis x;             ///< the horizontal axis
  Axis y;             ///< the vertical axis
  int width = 800;    ///< pixels; for pictures of several panels, of each panel
  int height = 600;   ///< pixels
};

/// A dashed line across a frame at a value of one axis, named in the legend.
struct ReferenceLine {
  double value = 0.0;  ///< where it crosses its axis: a height (bars, scatter), an x (histograms)
  std::string label;   ///< its legend entry; empty: no legend
};

/// One named line on a plot.
struct Series {
  std::string label;      ///< its legend entry
  std::vector<double> x;  ///< as many as y; points that cannot be drawn are skipped
  std::vector<double> y;  ///< as many as x
};

/// One panel of lines. Series i has the same colour in every panel of a picture.
struct LinePanel {
  PlotSpec spec;               ///< every panel of a picture the same size
  std::vector<Series> series;  ///< at least one, with a point that can be drawn
  bool legend = true;          ///< false: none (another panel names the colours)
};

/// Draws the panels side by side, each's series as lines with point markers on one set of axes,
/// with a legend placed where it hides the least of them; a lone point still gets a range.
void plot_line_panels(const std::string& path, const std::vector<LinePanel>& panels);
/// plot_line_panels with the one panel `spec`, `series`.
void plot_lines(const std::string& path, const PlotSpec& spec, const std::vector<Series>& series);

/// Bars at x = 0, 1, ..., n-1, standing on zero (on the frame's bottom on a log y axis).
struct Bars {
  std::vector<double> heights;                 ///< in order; ones that cannot be drawn are gaps
  std::vector<ReferenceLine> references = {};  ///< horizontal, each drawable on the y axis
  /// Empty, or one per bar: a marked bar is drawn in a second colour, and where it is a gap as an
  /// x on the frame's floor.
  std::vector<bool> marked = {};
  std::string marked_label = "marked";  ///< the legend entry of the marked bars
};

/// Draws `bars` as a bar chart; spec.x must be linear (x is the bars' index).
void plot_bars(const std::string& path, const PlotSpec& spec, const Bars& bars);

/// One histogram panel.
struct Histogram {
  PlotSpec spec;               ///< title, axes (y counts; log10 y draws empty bins as nothing)
  std::vector<double> values;  ///< non-finite ones are skipped, ones outside [lo, hi] clamped in;
                               ///< on a log x axis ones <= 0 are skipped (say so in `notes`)
  int bins = 50;               ///< equal bins (of log10 value on a log x axis), 1 to 100000
  double lo = 0.0;             ///< left edge of the first bin; > 0 on a log x axis
  double hi = 1.0;             ///< right edge of the last bin
  std::vector<ReferenceLine> lines = {};  ///< vertical, at x values inside [lo, hi]
  std::vector<std::string> notes = {};    ///< legend lines of text, e.g. what was left out
};

/// Draws the panels side by side in one picture (each spec.width x spec.height, all the same
/// size).
void plot_histograms(const std::string& path, const std::vector<Histogram>& panels);

/// A point with a text label drawn beside it.
struct LabelledPoint {
  double x = 0.0;     ///< position on the x axis
  double y = 0.0;     ///< position on the y axis
  std::string label;  ///< small text beside the point; empty: none
};

/// Which of `points` are Pareto-optimal when lower is better on both axes: no other point is as
/// low on both and lower on one. A point with a value that is not finite is not, and beats none.
std::vector<bool> pareto_optimal(const std::vector<LabelledPoint>& points);

/// A point of a scatter plot: a colour group and a marker group, e.g. a sweep's run.
struct ScatterPoint {
  double x = 0.0;     ///< ones that cannot be drawn are left out (say why in Scatter::notes)
  double y = 0.0;     ///< likewise
  int colour = 0;     ///< its colour group: an index into Scatter::colours
  int marker = 0;     ///< its marker: an index into Scatter::markers, or 0 when that is empty
  std::string label;  ///< small text beside it; empty: none
};

/// Which Pareto fronts a scatter plot joins with a line.
enum class Front {
  kNone,       ///< none
  kPerColour,  ///< each colour group's, in its colour: e.g. one curve per kind of code
  kAll,        ///< one across every point, in ink
};

/// Points in colour and marker groups, each group named in the legend. A point on its front is
/// drawn filled, a point another beats hollow.
struct Scatter {
  std::vector<ScatterPoint> points;
  std::vector<std::string> colours;  ///< the legend entry of each colour group: at least one
  std::vector<std::string> markers;  ///< the legend entry of each marker (at most 6, then they
                                     ///< repeat); empty: one marker, not in the legend
  Front front = Front::kNone;        ///< lower x is better, and lower y unless:
  bool higher_y_is_better = false;   ///< e.g. an accuracy
  std::vector<ReferenceLine> references = {};  ///< horizontal, e.g. a baseline
  std::vector<std::string> notes = {};         ///< legend lines of text, e.g. what was left out
  bool group_legend = true;  ///< false: the legend names no groups (another panel's does), only
                             ///< the references and the notes
};

/// One scatter panel.
struct ScatterPanel {
  PlotSpec spec;    ///< every panel of a picture the same size
  Scatter scatter;  ///< with no point to draw, the frame spans [1, 10] (log) or [0, 1]
};

/// Draws the panels side by side: each panel's points, its fronts, labels placed clear of the
/// points and of each other, and its legend where it hides the least.
void plot_scatter(const std::string& path, const std::vector<ScatterPanel>& panels);

}  // namespace sae
