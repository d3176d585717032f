#pragma once
// The PLplot drawing that the charts share: the page, the frame, the legend, point labels and
// markers. Internal to the plot layer; no PLplot type shows here, so the header needs no PLplot.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "sae/plot/charts.hpp"
#include "sae/plot/layout.hpp"

namespace sae::plot_draw {

// Colour map 0: background, axes and text, the series (Tableau 10), and last the grid.
constexpr int kBackground = 0, kInk = 1, kFirstSeries = 2, kGrid = 12;
// Text sizes relative to the page's default, marker sizes, and the width of lines.
constexpr double kTextScale = 0.9, kTitleScale = 1.2, kMarkerScale = 1.8, kLabelScale = 0.75,
                 kLineWidth = 2.0;
// Geometric shapes (●, ▲, ...) fill a whole em, where a bullet fills a third of one.
constexpr double kShapeScale = 0.85;
// pllsty line styles.
constexpr int kSolid = 1, kShortDashes = 2, kDashed = 3;
constexpr const char* kMarker = "•";  // cairo draws it with a system font, centred on the point
// Labelled points get more than kMargin of room, as their labels need room beside the points
// near them.
constexpr double kLabelMargin = 0.08;

/// Throws std::runtime_error "plot PATH: WHAT".
[[noreturn]] void fail(const std::string& path, const std::string& what);

/// The colour of series `i`: Tableau 10, round again after ten.
int series_colour(int i);

/// Refuses what PLplot would draw wrong or not at all, before anything is drawn; `what` names the
/// panel in the message.
void check_spec(const std::string& path, const PlotSpec& spec, const std::string& what = "");
/// The message when no point can be drawn: on a log axis without a floor, values <= 0 cannot.
std::string no_points(const PlotSpec& spec);
/// Refuses a window PLplot cannot draw into.
void check_window(const std::string& path, const plot_layout::Window& w);

/// Renders `draw` on a fresh page of `panels` panels side by side, each spec.width x spec.height,
/// published at `path` once libpng has read it whole.
void render(const std::string& path, const PlotSpec& spec, int panels,
            const std::function<void()>& draw);

/// Advances to the next panel and draws its grid, frame, ticks, axis labels and title over `w`;
/// `integer_x` keeps x ticks off fractions (as spec.x.integers does).
void draw_axes(const plot_layout::Window& w, const PlotSpec& spec, bool integer_x = false);
/// Draws the frame's edges again, over what filled bars covered.
void redraw_frame();
/// A filled rectangle in the current colour, in world coordinates.
void fill_bar(double x0, double x1, double y0, double y1);
/// A line from (x0, y0) to (x1, y1) in `colour` and pllsty `style`.
void draw_segment(double x0, double y0, double x1, double y1, int colour, int style);
/// `glyph` at each point of `p` in `colour`, `scale` times the text's size.
void draw_markers(const plot_layout::Polyline& p, const char* glyph, double scale, int colour);

/// One legend row: a line in `colour` and pllsty `style` (unless not `line`), with `symbol` on it
/// if `marker`; neither: the label alone, as a note.
struct LegendEntry {
  std::string label;
  int colour = kInk;
  int style = kSolid;
  bool marker = false;
  bool line = true;
  const char* symbol = kMarker;
  double symbol_scale = kMarkerScale;
  bool box = false;  ///< a box filled with `colour` instead of the line
};
/// A legend row of text alone.
LegendEntry note_entry(const std::string& text);
/// The colour and pllsty style of reference line `i` of a frame.
int reference_colour(std::size_t i);
int reference_style(std::size_t i);
/// Appends the legend entries of `lines` (those with a label) in their colours and styles.
void add_references(std::vector<LegendEntry>& legend, const std::vector<ReferenceLine>& lines);

/// Draws the legend in the corner where it hides the least of `lines`.
void draw_legend(const std::vector<LegendEntry>& entries,
                 const std::vector<plot_layout::Polyline>& lines, const plot_layout::Window& w);

/// Draws each label next to its point (points in world coordinates), where place_labels puts it.
void draw_labels(const std::vector<LabelledPoint>& points, const plot_layout::Window& w);

/// The range of a line axis: whole decades on a log axis, and a lone value on a linear one gets
/// at least `min_half` either side.
plot_layout::Range line_range(plot_layout::Range r, Scale scale, double min_half);

}  // namespace sae::plot_draw
