// Scatter plots of points in colour and marker groups, with their Pareto fronts: a sweep's runs.

#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sae/plot/charts.hpp"
#include "sae/plot/draw.hpp"
#include "sae/plot/layout.hpp"

namespace sae {
namespace {

// Added above a scatter's points per row of its legend, as a fraction of the points' y range.
constexpr double kLegendRowHeadroom = 0.14;

using namespace plot_layout;
using namespace plot_draw;

// Markers in pairs: filled on a front (or without one), hollow off it.
constexpr const char* kFilledMarkers[] = {"●", "▲", "■", "◆", "▼", "★"};
constexpr const char* kHollowMarkers[] = {"○", "△", "□", "◇", "▽", "☆"};
constexpr std::size_t kMarkerKinds = std::size(kFilledMarkers);
static_assert(std::size(kHollowMarkers) == kMarkerKinds, "a hollow marker for each filled one");
// The frame of a panel with no point to draw: a decade, or [0, 1], on x; [0, 1] on y.
constexpr Range kEmptyRange{0.0, 1.0};

// One panel in world coordinates, ready to draw.
struct DrawnScatter {
  std::vector<LabelledPoint> points;    // the drawable ones
  std::vector<const ScatterPoint*> of;  // the point each came from
  std::vector<bool> on_front;           // per drawable point
  std::vector<Polyline> fronts;         // per colour group (kPerColour), or one (kAll)
  std::vector<double> references;       // world y of each reference line
  Window window;
};

// The points of `points` (world coordinates) on their front, given which to compare.
std::vector<bool> fronts_of(const std::vector<LabelledPoint>& points,
                            const std::vector<int>& groups, bool higher_y_is_better) {
  std::vector<bool> on(points.size(), false);
  std::vector<int> distinct = groups;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (const int g : distinct) {
    std::vector<LabelledPoint> members;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (groups[i] != g) continue;
      LabelledPoint p = points[i];
      if (higher_y_is_better) p.y = -p.y;  // both transforms are increasing: the order is kept
      members.push_back(p);
      index.push_back(i);
    }
    const std::vector<bool> optimal = pareto_optimal(members);
    for (std::size_t k = 0; k < index.size(); ++k) on[index[k]] = optimal[k];
  }
  return on;
}

DrawnScatter lay_out(const std::string& path, const ScatterPanel& panel, const std::string& name) {
  const PlotSpec& spec = panel.spec;
  const Scatter& s = panel.scatter;
  check_spec(path, spec, name);
  const std::string prefix = name.empty() ? "" : name + ": ";
  if (s.colours.empty()) fail(path, prefix + "no colour groups");
  DrawnScatter d;
  std::vector<double> xs, ys;
  for (const ScatterPoint& p : s.points) {
    if (p.colour < 0 || p.colour >= static_cast<int>(s.colours.size())) {
      fail(path, prefix + "a point's colour group " + std::to_string(p.colour) + " has no name");
    }
    const int markers = std::max<int>(1, static_cast<int>(s.markers.size()));
    if (p.marker < 0 || p.marker >= markers) {
      fail(path, prefix + "a point's marker " + std::to_string(p.marker) + " has no name");
    }
    const double x = to_world(p.x, spec.x), y = to_world(p.y, spec.y);
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    d.points.push_back({x, y, p.label});
    d.of.push_back(&p);
    xs.push_back(x);
    ys.push_back(y);
  }
  for (const ReferenceLine& r : s.references) {
    d.references.push_back(to_world(r.value, spec.y));
    if (!std::isfinite(d.references.back())) {
      fail(path, prefix + "a reference must be finite" +
                     (spec.y.scale == Scale::kLog10 ? " and positive" : ""));
    }
  }
  std::vector<double> all_y = ys;
  all_y.insert(all_y.end(), d.references.begin(), d.references.end());
  const std::optional<Range> x = extent(xs), y = extent(all_y);
  // No fake floor for what a log axis cannot show: an empty frame, its legend still there.
  d.window = {x ? (spec.x.scale == Scale::kLog10 ? decade_range(*x) : pad(*x, 0.0, kLabelMargin))
                : kEmptyRange,
              y ? pad(*y, 0.0, kLabelMargin) : kEmptyRange};
  // Room above the points for the legend's rows, so that a top corner hides none of them.
  const std::size_t rows = (s.group_legend ? s.colours.size() + s.markers.size() + 1 : 0) +
                           s.references.size() + s.notes.size();
  const Range points_y = d.window.y;
  d.window.y.hi += kLegendRowHeadroom * static_cast<double>(rows) * (points_y.hi - points_y.lo);
  check_window(path, d.window);

  std::vector<int> groups;
  for (const ScatterPoint* p : d.of) groups.push_back(s.front == Front::kAll ? 0 : p->colour);
  d.on_front = s.front == Front::kNone ? std::vector<bool>(d.points.size(), true)
                                       : fronts_of(d.points, groups, s.higher_y_is_better);
  if (s.front != Front::kNone) {
    d.fronts.resize(s.front == Front::kAll ? 1 : s.colours.size());
    std::vector<std::size_t> order(d.points.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return d.points[a].x < d.points[b].x ||
             (d.points[a].x == d.points[b].x && d.points[a].y < d.points[b].y);
    });
    for (const std::size_t i : order) {
      if (!d.on_front[i]) continue;
      Polyline& f = d.fronts[static_cast<std::size_t>(groups[i])];
      f.x.push_back(d.points[i].x);
      f.y.push_back(d.points[i].y);
    }
  }
  return d;
}

std::vector<LegendEntry> legend_of(const Scatter& s, const DrawnScatter& d) {
  std::vector<LegendEntry> legend;
  if (s.group_legend) {
    for (std::size_t i = 0; i < s.colours.size(); ++i) {
      const int colour = series_colour(static_cast<int>(i));
      if (s.front == Front::kPerColour) {
        // A curve: its line, with its marker when there is one marker only.
        legend.push_back({s.colours[i], colour, kSolid, s.markers.empty(), true, kFilledMarkers[0],
                          kShapeScale});
      } else {
        legend.push_back({s.colours[i], colour, kSolid, false, false, kMarker, kMarkerScale, true});
      }
    }
    for (std::size_t i = 0; i < s.markers.size(); ++i) {
      legend.push_back(
          {s.markers[i], kInk, kSolid, true, false, kFilledMarkers[i % kMarkerKinds], kShapeScale});
    }
    if (s.front == Front::kAll) legend.push_back({"Pareto front", kInk, kSolid, false, true});
    if (std::find(d.on_front.begin(), d.on_front.end(), false) != d.on_front.end()) {
      // Better: as good on both axes and better on one.
      legend.push_back({s.front == Front::kPerColour ? "hollow: a point of its colour is better"
                                                     : "hollow: another point is better",
                        kInk, kSolid, true, false, kHollowMarkers[0], kShapeScale});
    }
  }
  add_references(legend, s.references);
  for (const std::string& note : s.notes) legend.push_back(note_entry(note));
  return legend;
}

void draw_panel(const ScatterPanel& panel, const DrawnScatter& d) {
  const Scatter& s = panel.scatter;
  const Window& w = d.window;
  draw_axes(w, panel.spec);
  std::vector<Polyline> avoid;  // for the legend: the lines and each point
  for (std::size_t i = 0; i < d.references.size(); ++i) {
    const double y = d.references[i];
    draw_segment(w.x.lo, y, w.x.hi, y, reference_colour(i), reference_style(i));
    avoid.push_back({{w.x.lo, w.x.hi}, {y, y}});
  }
  for (std::size_t f = 0; f < d.fronts.size(); ++f) {
    const Polyline& front = d.fronts[f];
    avoid.push_back(front);
    if (front.x.size() < 2) continue;
    plcol0(s.front == Front::kAll ? kInk : series_colour(static_cast<int>(f)));
    plline(static_cast<PLINT>(front.x.size()), front.x.data(), front.y.data());
  }
  for (std::size_t i = 0; i < d.points.size(); ++i) {
    const ScatterPoint& p = *d.of[i];
    const std::size_t m = static_cast<std::size_t>(p.marker) % kMarkerKinds;
    const Polyline at{{d.points[i].x}, {d.points[i].y}};
    draw_markers(at, d.on_front[i] ? kFilledMarkers[m] : kHollowMarkers[m], kShapeScale,
                 series_colour(p.colour));
    avoid.push_back(at);
  }
  draw_labels(d.points, w);
  draw_legend(legend_of(s, d), avoid, w);
}

}  // namespace

std::vector<bool> pareto_optimal(const std::vector<LabelledPoint>& points) {
  const auto finite = [](const LabelledPoint& p) {
    return std::isfinite(p.x) && std::isfinite(p.y);
  };
  std::vector<bool> optimal(points.size(), false);
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (!finite(points[i])) continue;
    const LabelledPoint& p = points[i];
    optimal[i] = std::none_of(points.begin(), points.end(), [&](const LabelledPoint& q) {
      return finite(q) && q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y);
    });
  }
  return optimal;
}

void plot_scatter(const std::string& path, const std::vector<ScatterPanel>& panels) {
  if (panels.empty()) fail(path, "no panels");
  std::vector<DrawnScatter> drawn;
  for (const ScatterPanel& panel : panels) {
    const std::string name = panels.size() > 1 ? "panel '" + panel.spec.title + "'" : "";
    if (panel.spec.width != panels[0].spec.width || panel.spec.height != panels[0].spec.height) {
      fail(path, name + " is not the size of the first panel, as panels side by side must be");
    }
    drawn.push_back(lay_out(path, panel, name));
  }
  render(path, panels[0].spec, static_cast<int>(panels.size()), [&] {
    for (std::size_t p = 0; p < panels.size(); ++p) draw_panel(panels[p], drawn[p]);
  });
}

}  // namespace sae
