#include "sae/plot/charts.hpp"

#include <plplot.h>

#include <algorithm>
#include <cmath>

#include "sae/plot/draw.hpp"
#include "sae/plot/layout.hpp"

namespace sae {
namespace {

using namespace plot_layout;
using namespace plot_draw;

// Far more bins than a panel has pixels would draw as a smear.
constexpr int kMaxBins = 100000;
// Room above a histogram's tallest bar, as a fraction of its range, for the legend's lines.
constexpr double kLegendHeadroom = 0.35;
// Bars are this wide, of the 1 between neighbours.
constexpr double kBarHalfWidth = 0.4;
// The x that marks a bar too low for a log axis, a little above the frame's floor.
constexpr const char* kFloorMark = "×";
constexpr double kFloorMarkScale = 1.4, kFloorMarkLift = 0.03;  // of the frame's height
// The colour of marked bars.
constexpr int kMarkedSeries = 3;  // Tableau's red

// A panel of lines, in world coordinates, ready to draw.
struct DrawnLines {
  std::vector<Polyline> lines;
  Window window;
};

DrawnLines lay_out_lines(const std::string& path, const LinePanel& panel, const std::string& name) {
  check_spec(path, panel.spec, name);
  if (panel.series.empty()) fail(path, (name.empty() ? "" : name + ": ") + "no series");
  DrawnLines drawn;
  std::vector<double> all_x, all_y;
  for (const Series& s : panel.series) {
    if (s.x.empty() || s.x.size() != s.y.size()) {
      fail(path, "series '" + s.label + "' is empty or has different numbers of x and y values");
    }
    Polyline p;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const double x = to_world(s.x[i], panel.spec.x), y = to_world(s.y[i], panel.spec.y);
      if (std::isfinite(x) && std::isfinite(y)) {
        p.x.push_back(x);
        p.y.push_back(y);
      }
    }
    all_x.insert(all_x.end(), p.x.begin(), p.x.end());
    all_y.insert(all_y.end(), p.y.begin(), p.y.end());
    drawn.lines.push_back(std::move(p));
  }
  const std::optional<Range> x = extent(all_x), y = extent(all_y);
  if (!x || !y) fail(path, (name.empty() ? "" : name + ": ") + no_points(panel.spec));
  // x is usually an epoch or step: one point gets a range of +-1 around it.
  drawn.window = {line_range(*x, panel.spec.x.scale, 1.0), line_range(*y, panel.spec.y.scale, 0.0)};
  check_window(path, drawn.window);
  return drawn;
}

}  // namespace

void plot_line_panels(const std::string& path, const std::vector<LinePanel>& panels) {
  if (panels.empty()) fail(path, "no panels");
  std::vector<DrawnLines> drawn;
  for (const LinePanel& panel : panels) {
    const std::string name = panels.size() > 1 ? "panel '" + panel.spec.title + "'" : "";
    if (panel.spec.width != panels[0].spec.width || panel.spec.height != panels[0].spec.height) {
      fail(path, name + " is not the size of the first panel, as panels side by side must be");
    }
    drawn.push_back(lay_out_lines(path, panel, name));
  }
  render(path, panels[0].spec, static_cast<int>(panels.size()), [&] {
    for (std::size_t p = 0; p < panels.size(); ++p) {
      const LinePanel& panel = panels[p];
      draw_axes(drawn[p].window, panel.spec);
      std::vector<LegendEntry> legend;
      for (std::size_t i = 0; i < panel.series.size(); ++i) {
        const Polyline& line = drawn[p].lines[i];
        const int colour = series_colour(static_cast<int>(i));
        plcol0(colour);
        if (line.x.size() > 1)
          plline(static_cast<PLINT>(line.x.size()), line.x.data(), line.y.data());
        draw_markers(line, kMarker, kMarkerScale, colour);
        legend.push_back({panel.series[i].label, colour, kSolid, true});
      }
      if (panel.legend) draw_legend(legend, drawn[p].lines, drawn[p].window);
    }
  });
}

void plot_lines(const std::string& path, const PlotSpec& spec, const std::vector<Series>& series) {
  plot_line_panels(path, {{spec, series}});
}

void plot_bars(const std::string& path, const PlotSpec& spec, const Bars& bars) {
  check_spec(path, spec);
  if (spec.x.scale != Scale::kLinear) fail(path, "bars need a linear x axis");
  if (bars.heights.empty()) fail(path, "no values");
  if (!bars.marked.empty() && bars.marked.size() != bars.heights.size()) {
    fail(path, "marked needs one flag per bar");
  }
  std::vector<double> drawable, refs;
  for (const ReferenceLine& r : bars.references) {
    refs.push_back(to_world(r.value, spec.y));
    if (!std::isfinite(refs.back())) {
      fail(path, std::string("a reference must be finite") +
                     (spec.y.scale == Scale::kLog10 ? " and positive" : ""));
    }
  }
  drawable = refs;
  // Bars that cannot be drawn (not finite, or <= 0 on a log axis) are left as gaps.
  std::vector<double> heights;
  for (double v : bars.heights) heights.push_back(to_world(v, spec.y));
  drawable.insert(drawable.end(), heights.begin(), heights.end());
  std::optional<Range> y = extent(drawable);
  const bool any_marked =
      std::find(bars.marked.begin(), bars.marked.end(), true) != bars.marked.end();
  // Every bar at 0 on a log axis (a code whose units all died) still shows its floor's marks.
  if (!y && any_marked) y = spec.y.scale == Scale::kLog10 ? Range{-3.0, 0.0} : Range{0.0, 1.0};
  if (!y)
    fail(path, spec.y.scale == Scale::kLog10 ? "no finite positive values" : "no finite values");
  const double n = static_cast<double>(heights.size());
  const Window w{{-0.5, n - 0.5}, bar_range(*y, spec.y.scale)};
  check_window(path, w);
  const double base = spec.y.scale == Scale::kLog10 ? w.y.lo : 0.0;
  const auto is_marked = [&](std::size_t i) { return !bars.marked.empty() && bars.marked[i]; };

  // Each bar is a vertical segment for the legend to avoid, as are the reference lines and the
  // floor's marks.
  std::vector<Polyline> lines;
  for (const double r : refs) lines.push_back({{w.x.lo, w.x.hi}, {r, r}});
  Polyline floor_marks;
  const double floor_y = w.y.lo + kFloorMarkLift * (w.y.hi - w.y.lo);
  for (std::size_t i = 0; i < heights.size(); ++i) {
    const double h = heights[i], x = static_cast<double>(i);
    if (std::isfinite(h)) {
      lines.push_back({{x, x}, {base, h}});
    } else if (is_marked(i)) {
      floor_marks.x.push_back(x);
      floor_marks.y.push_back(floor_y);
      lines.push_back({{x}, {floor_y}});
    }
  }
  std::vector<LegendEntry> legend;
  if (any_marked) {
    // Marked bars too low for the axis show as the x on the floor, the others as their colour.
    const bool on_floor = !floor_marks.x.empty();
    legend.push_back({bars.marked_label, series_colour(kMarkedSeries), kSolid, on_floor, false,
                      kFloorMark, kFloorMarkScale, !on_floor});
  }
  add_references(legend, bars.references);

  render(path, spec, 1, [&] {
    draw_axes(w, spec, /*integer_x=*/true);
    for (std::size_t i = 0; i < heights.size(); ++i) {
      const double x = static_cast<double>(i);
      if (!std::isfinite(heights[i])) continue;
      plcol0(series_colour(is_marked(i) ? kMarkedSeries : 0));
      fill_bar(x - kBarHalfWidth, x + kBarHalfWidth, base, heights[i]);
    }
    redraw_frame();
    draw_markers(floor_marks, kFloorMark, kFloorMarkScale, series_colour(kMarkedSeries));
    for (std::size_t i = 0; i < refs.size(); ++i) {
      draw_segment(w.x.lo, refs[i], w.x.hi, refs[i], reference_colour(i), reference_style(i));
    }
    draw_legend(legend, lines, w);
  });
}

void plot_histograms(const std::string& path, const std::vector<Histogram>& panels) {
  if (panels.empty()) fail(path, "no histograms");
  std::vector<std::vector<double>> heights;  // per bin: count, or log10 count (-inf when empty)
  std::vector<Window> windows;
  std::vector<Range> edges;  // the bins' span in world coordinates
  for (const Histogram& h : panels) {
    const std::string name = "histogram '" + h.spec.title + "'";
    check_spec(path, h.spec, name);
    if (h.spec.width != panels[0].spec.width || h.spec.height != panels[0].spec.height) {
      fail(path, name + " is not the size of the first panel, as panels side by side must be");
    }
    if (h.bins < 1 || h.bins > kMaxBins) {
      fail(path, name + " needs 1 to " + std::to_string(kMaxBins) + " bins");
    }
    const Range span{to_world(h.lo, h.spec.x), to_world(h.hi, h.spec.x)};
    if (!(span.lo < span.hi) || !std::isfinite(span.hi - span.lo)) {
      fail(path, name + " needs a finite range with lo < hi" +
                     (h.spec.x.scale == Scale::kLog10 ? " and lo > 0" : ""));
    }
    for (const ReferenceLine& line : h.lines) {
      const double x = to_world(line.value, h.spec.x);
      if (!(x >= span.lo && x <= span.hi)) fail(path, name + ": a line outside [lo, hi]");
    }
    std::vector<double> world;
    for (double v : h.values) world.push_back(to_world(v, h.spec.x));
    std::vector<double> counts = bin_counts(world, h.bins, span.lo, span.hi);
    // With nothing to count, a panel is still drawn when its notes say why.
    if (h.notes.empty() &&
        std::none_of(counts.begin(), counts.end(), [](double c) { return c > 0; })) {
      fail(path, name + " has no finite values");
    }
    for (double& c : counts) c = to_world(c, h.spec.y);
    const std::optional<Range> counted = extent(counts);
    Range y = counted ? bar_range(*counted, h.spec.y.scale) : Range{0.0, 1.0};
    if (!h.lines.empty() || !h.notes.empty()) y.hi += kLegendHeadroom * (y.hi - y.lo);
    const Window w{pad(span, 0.0, kMargin), y};
    check_window(path, w);
    heights.push_back(std::move(counts));
    windows.push_back(w);
    edges.push_back(span);
  }

  render(path, panels[0].spec, static_cast<int>(panels.size()), [&] {
    for (std::size_t p = 0; p < panels.size(); ++p) {
      const Histogram& h = panels[p];
      const Window& w = windows[p];
      draw_axes(w, h.spec);
      const double base = h.spec.y.scale == Scale::kLog10 ? w.y.lo : 0.0;
      const double bin_width = (edges[p].hi - edges[p].lo) / h.bins;
      std::vector<Polyline> avoid;  // for the legend: the bars and the lines
      for (int i = 0; i < h.bins; ++i) {
        const double y = heights[p][i];
        if (!std::isfinite(y) || y <= base) continue;  // empty bin
        const double x0 = edges[p].lo + i * bin_width, x1 = x0 + bin_width;
        plcol0(series_colour(0));
        fill_bar(x0, x1, base, y);
        // Thin background-coloured edges keep neighbouring bins apart.
        PLFLT ex[] = {x0, x0, x1, x1}, ey[] = {base, y, y, base};
        plcol0(kBackground);
        plwidth(1);
        plline(4, ex, ey);
        plwidth(kLineWidth);
        avoid.push_back({{0.5 * (x0 + x1), 0.5 * (x0 + x1)}, {base, y}});
      }
      redraw_frame();
      std::vector<LegendEntry> legend;
      for (std::size_t i = 0; i < h.lines.size(); ++i) {
        const double x = to_world(h.lines[i].value, h.spec.x);
        draw_segment(x, w.y.lo, x, w.y.hi, reference_colour(i), reference_style(i));
        avoid.push_back({{x, x}, {w.y.lo, w.y.hi}});
      }
      add_references(legend, h.lines);
      for (const std::string& note : h.notes) legend.push_back(note_entry(note));
      draw_legend(legend, avoid, w);
    }
  });
}

}  // namespace sae
