#include "sae/plot/charts.hpp"

#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <type_traits>

#include "sae/plot/layout.hpp"
#include "sae/plot/publish_png.hpp"

namespace sae {
namespace {

// Polylines go to PLplot as they are.
static_assert(std::is_same_v<PLFLT, double>, "PLplot must be built with double precision");

// Colour map 0: background, axes and text, the series (Tableau 10), and last the grid.
constexpr PLINT kRed[] = {255, 0, 31, 255, 44, 214, 148, 140, 227, 127, 188, 23, 200};
constexpr PLINT kGreen[] = {255, 0, 119, 127, 160, 39, 103, 86, 119, 127, 189, 190, 200};
constexpr PLINT kBlue[] = {255, 0, 180, 14, 44, 40, 189, 75, 194, 127, 34, 207, 200};
constexpr PLINT kColours = sizeof(kRed) / sizeof(kRed[0]);
constexpr PLINT kBackground = 0, kInk = 1, kFirstSeries = 2, kGrid = kColours - 1;
constexpr PLFLT kTextScale = 0.9, kTitleScale = 1.2, kMarkerScale = 1.8, kLabelScale = 0.75,
                kLineWidth = 2.0;
// pllsty line styles.
constexpr PLINT kSolid = 1, kDashed = 3;
constexpr const char* kMarker = "•";  // cairo draws it with a system font, centred on the point
constexpr const char* kHollowMarker = "○";  // a frontier's point that another point beats

// Text and ticks are sized for this page; larger pages scale them down to look the same.
constexpr int kDefaultWidth = 800, kDefaultHeight = 600;
// Below this nothing fits around the frame; above it cairo's surface gets huge.
constexpr int kMinPixels = 100, kMaxPixels = 10000;
// Far more bins than a panel has pixels would draw as a smear.
constexpr int kMaxBins = 100000;

// Labelled points get more than kMargin of room, as their labels need room beside the points
// near them.
constexpr double kLabelMargin = 0.08;
// Bars are this wide, of the 1 between neighbours.
constexpr double kBarHalfWidth = 0.4;

using namespace plot_layout;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("plot " + path + ": " + what);
}

PLINT series_colour(int i) {
  return kFirstSeries + i % (kGrid - kFirstSeries);
}

// Refuses what PLplot would draw wrong or not at all, before anything is drawn.
void check_spec(const std::string& path, const PlotSpec& spec, const std::string& what = "") {
  const std::string prefix = what.empty() ? "" : what + ": ";
  if (spec.width < kMinPixels || spec.width > kMaxPixels || spec.height < kMinPixels ||
      spec.height > kMaxPixels) {
    fail(path, prefix + "width and height must be " + std::to_string(kMinPixels) + " to " +
                   std::to_string(kMaxPixels) + " pixels, got " + std::to_string(spec.width) + "x" +
                   std::to_string(spec.height));
  }
  for (const auto& [name, axis] : {std::pair{"x", &spec.x}, std::pair{"y", &spec.y}}) {
    if (!std::isfinite(axis->floor) || axis->floor < 0) {
      fail(path, prefix + "the " + name + " axis floor must be finite and >= 0");
    }
    if (axis->floor > 0 && axis->scale != Scale::kLog10) {
      fail(path, prefix + "a floor on the " + name + " axis needs a log scale");
    }
  }
}

// The message when no point can be drawn: on a log axis without a floor, values <= 0 cannot.
std::string no_points(const PlotSpec& spec) {
  const auto drops_non_positive = [](const Axis& a) {
    return a.scale == Scale::kLog10 && a.floor == 0;
  };
  return drops_non_positive(spec.x) || drops_non_positive(spec.y) ? "no finite positive points"
                                                                  : "no finite points";
}

void check_window(const std::string& path, const Window& w) {
  if (const auto problem = window_problem(w)) fail(path, *problem);
}

// A fresh PLplot stream drawing `panels` side by side into the PNG `file`, each `width` x `height`
// pixels; ending it (plend1 writes the PNG) happens even when we throw.
class Page {
 public:
  Page(const std::string& file, int width, int height, int panels) {
    plmkstrm(&id_);
    plsdev("pngcairo");
    plsfnam(file.c_str());
    plspage(0, 0, width * panels, height, 0, 0);
    plscmap0(kRed, kGreen, kBlue, kColours);
    plssub(panels, 1);
    plinit();
    // PLplot sizes text and ticks by the page's width plus height; keep them as on a default page
    // however large this one is.
    const PLFLT scale =
        static_cast<PLFLT>(kDefaultWidth + kDefaultHeight) / (width * panels + height);
    PLFLT default_height = 0, height_now = 0;
    plgchr(&default_height, &height_now);
    plschr(default_height * scale, 1.0);
    plsmaj(0, scale);
    plsmin(0, scale);
  }
  ~Page() {
    plsstrm(id_);
    plend1();
  }
  Page(const Page&) = delete;
  Page& operator=(const Page&) = delete;

 private:
  PLINT id_ = 0;
};

// Renders `draw` on a fresh page, published at `path` once libpng has read it whole.
void render(const std::string& path, const PlotSpec& spec, int panels,
            const std::function<void()>& draw) {
  publish_png(path, [&](const std::string& file) {
    const Page page(file, spec.width, spec.height, panels);
    draw();
  });
}

// Labels a tick at log10 value `value` as a power of ten.
void decade_label(PLINT, PLFLT value, char* label, PLINT length, PLPointer) {
  std::snprintf(label, length, "10#u%d#d", static_cast<int>(std::lround(value)));
}

// plbox's options for an axis with ticks `t`: the grid's, and the frame's with its labels.
std::string grid_options(const Ticks& t) {
  return t.log ? "ghl" : "g";
}
std::string frame_options(const Ticks& t, bool vertical) {
  return std::string("bcnst") + (vertical ? "v" : "") + (t.log ? "l" : "") +
         (t.decade_labels ? "o" : "");
}

// Advances to the next panel and draws its grid, frame, ticks, axis labels and title over `w`;
// `integer_x` keeps x ticks off fractions, for bar indices.
void draw_axes(const Window& w, const PlotSpec& spec, bool integer_x = false) {
  pladv(0);
  plwidth(1);
  plschr(0, kTextScale);
  // Plain decimals up to 6 characters; beyond that PLplot puts a "(x10^-4)" factor in the corner.
  plsxax(6, 0);
  plsyax(6, 0);
  plvsta();
  plwind(w.x.lo, w.x.hi, w.y.lo, w.y.hi);
  const Ticks x = axis_ticks(w.x, spec.x.scale, integer_x);
  const Ticks y = axis_ticks(w.y, spec.y.scale, false);
  if (x.decade_labels || y.decade_labels) plslabelfunc(decade_label, nullptr);
  plcol0(kGrid);
  plbox(grid_options(x).c_str(), x.step, x.minor, grid_options(y).c_str(), y.step, y.minor);
  plcol0(kInk);
  plbox(frame_options(x, false).c_str(), x.step, x.minor, frame_options(y, true).c_str(), y.step,
        y.minor);
  plmtex("b", 3.2, 0.5, 0.5, escape(spec.x.label).c_str());
  // Further out than pllab's y label, which touches 5-digit tick labels.
  plmtex("l", 6.2, 0.5, 0.5, escape(spec.y.label).c_str());
  plschr(0, kTitleScale);
  plmtex("t", 1.5, 0.5, 0.5, escape(spec.title).c_str());
  plschr(0, kTextScale);
  plwidth(kLineWidth);
}

// Bars (filled from y0 to y1) cover the frame's bottom edge; this draws it again on top.
void redraw_frame() {
  plcol0(kInk);
  plwidth(1);
  plbox("bc", 0, 0, "bc", 0, 0);
  plwidth(kLineWidth);
}

// A filled rectangle in the current colour.
void fill_bar(double x0, double x1, double y0, double y1) {
  PLFLT x[] = {x0, x1, x1, x0}, y[] = {y0, y0, y1, y1};
  plfill(4, x, y);
}

// One legend row: a line in `colour` and pllsty `style` (unless not `line`), with `symbol` on it
// if `marker`.
struct LegendEntry {
  std::string label;
  PLINT colour = kInk;
  PLINT style = kSolid;
  bool marker = false;
  bool line = true;
  const char* symbol = kMarker;
};

PLINT legend_position(Corner corner) {
  switch (corner) {
    case Corner::kTopRight:
      return PL_POSITION_TOP | PL_POSITION_RIGHT;
    case Corner::kTopLeft:
      return PL_POSITION_TOP | PL_POSITION_LEFT;
    case Corner::kBottomRight:
      return PL_POSITION_BOTTOM | PL_POSITION_RIGHT;
    case Corner::kBottomLeft:
      break;
  }
  return PL_POSITION_BOTTOM | PL_POSITION_LEFT;
}

// Draws the legend in the corner where it hides the least of `lines`.
void draw_legend(const std::vector<LegendEntry>& entries, const std::vector<Polyline>& lines,
                 const Window& w) {
  const int n = static_cast<int>(entries.size());
  std::vector<std::string> labels, escaped;
  std::vector<const char*> texts, symbols;
  std::vector<PLINT> options(n), colours(n), styles(n), symbol_numbers(n, 3), text_colours(n, kInk);
  std::vector<PLFLT> widths(n, kLineWidth), symbol_scales(n, kMarkerScale);
  for (const LegendEntry& e : entries) {
    labels.push_back(e.label);
    escaped.push_back(escape(e.label));
  }
  for (int i = 0; i < n; ++i) {
    texts.push_back(escaped[i].c_str());
    options[i] =
        (entries[i].line ? PL_LEGEND_LINE : 0) | (entries[i].marker ? PL_LEGEND_SYMBOL : 0);
    if (options[i] == 0) options[i] = PL_LEGEND_NONE;
    symbols.push_back(entries[i].symbol);
    colours[i] = entries[i].colour;
    styles[i] = entries[i].style;
  }
  const PLINT corner = legend_position(legend_corner(legend_size(labels), lines, w));
  PLFLT width = 0, height = 0;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           corner | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, kBackground, kInk, 1, 0, 0, n,
           options.data(), 1.0, 1.0, 2.0, 0.0, text_colours.data(), texts.data(), nullptr, nullptr,
           nullptr, nullptr, colours.data(), styles.data(), widths.data(), colours.data(),
           symbol_scales.data(), symbol_numbers.data(), symbols.data());
  pllsty(kSolid);
}

// Draws each label next to its point (points in world coordinates), where place_labels puts it.
void draw_labels(const std::vector<LabelledPoint>& points, const Window& w) {
  plschr(0, kLabelScale);
  // Placement works in millimetres on the page, where text sizes are known.
  PLFLT page_x0, page_x1, page_y0, page_y1, vp_x0, vp_x1, vp_y0, vp_y1, unused, char_h;
  plgspa(&page_x0, &page_x1, &page_y0, &page_y1);
  plgvpd(&vp_x0, &vp_x1, &vp_y0, &vp_y1);
  plgchr(&unused, &char_h);
  const double width_mm = (vp_x1 - vp_x0) * (page_x1 - page_x0);
  const double height_mm = (vp_y1 - vp_y0) * (page_y1 - page_y0);
  std::vector<Mark> marks;
  for (const LabelledPoint& p : points) {
    marks.push_back({(p.x - w.x.lo) / (w.x.hi - w.x.lo) * width_mm,
                     (p.y - w.y.lo) / (w.y.hi - w.y.lo) * height_mm, text_length(p.label)});
  }
  const std::vector<std::optional<Box>> boxes = place_labels(marks, width_mm, height_mm, char_h);
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (!boxes[i]) continue;
    // Left-aligned at the box's left edge, centred on its middle.
    const double tx = w.x.lo + boxes[i]->x0 / width_mm * (w.x.hi - w.x.lo);
    const double ty = w.y.lo + 0.5 * (boxes[i]->y0 + boxes[i]->y1) / height_mm * (w.y.hi - w.y.lo);
    plptex(tx, ty, 1, 0, 0, escape(points[i].label).c_str());
  }
  plschr(0, kTextScale);
}

// The frame of a frontier with no point to draw: a decade, or [0, 1], on x; [0, 1] on y.
constexpr Range kEmptyFrontierRange{0.0, 1.0};

// The range of a line axis: whole decades on a log axis, and a lone value on a linear one gets
// at least `min_half` either side.
Range line_range(Range r, Scale scale, double min_half) {
  return scale == Scale::kLog10 ? decade_range(r) : pad(r, min_half, kMargin);
}

}  // namespace

void plot_lines(const std::string& path, const PlotSpec& spec, const std::vector<Series>& series) {
  check_spec(path, spec);
  if (series.empty()) fail(path, "no series");

  std::vector<Polyline> lines;
  std::vector<double> all_x, all_y;
  for (const Series& s : series) {
    if (s.x.empty() || s.x.size() != s.y.size()) {
      fail(path, "series '" + s.label + "' is empty or has different numbers of x and y values");
    }
    Polyline p;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const double x = to_world(s.x[i], spec.x), y = to_world(s.y[i], spec.y);
      if (std::isfinite(x) && std::isfinite(y)) {
        p.x.push_back(x);
        p.y.push_back(y);
      }
    }
    all_x.insert(all_x.end(), p.x.begin(), p.x.end());
    all_y.insert(all_y.end(), p.y.begin(), p.y.end());
    lines.push_back(std::move(p));
  }
  const std::optional<Range> x = extent(all_x), y = extent(all_y);
  if (!x || !y) fail(path, no_points(spec));
  // x is usually an epoch or step: one point gets a range of +-1 around it.
  const Window w{line_range(*x, spec.x.scale, 1.0), line_range(*y, spec.y.scale, 0.0)};
  check_window(path, w);

  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < series.size(); ++i) {
    legend.push_back({series[i].label, series_colour(static_cast<int>(i)), kSolid, true});
  }
  render(path, spec, 1, [&] {
    draw_axes(w, spec);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const Polyline& p = lines[i];
      const PLINT n = static_cast<PLINT>(p.x.size());
      plcol0(series_colour(static_cast<int>(i)));
      plline(n, p.x.data(), p.y.data());
      plschr(0, kMarkerScale);
      plstring(n, p.x.data(), p.y.data(), kMarker);
      plschr(0, kTextScale);
    }
    draw_legend(legend, lines, w);
  });
}

void plot_bars(const std::string& path, const PlotSpec& spec, const Bars& bars) {
  check_spec(path, spec);
  if (spec.x.scale != Scale::kLinear) fail(path, "bars need a linear x axis");
  if (bars.heights.empty()) fail(path, "no values");
  std::vector<double> drawable;
  std::optional<double> ref;
  if (bars.reference) {
    ref = to_world(bars.reference->y, spec.y);
    if (!std::isfinite(*ref)) {
      fail(path, std::string("the reference must be finite") +
                     (spec.y.scale == Scale::kLog10 ? " and positive" : ""));
    }
    drawable.push_back(*ref);
  }
  // Bars that cannot be drawn (not finite, or <= 0 on a log axis) are left as gaps.
  std::vector<double> heights;
  for (double v : bars.heights) heights.push_back(to_world(v, spec.y));
  drawable.insert(drawable.end(), heights.begin(), heights.end());
  const std::optional<Range> y = extent(drawable);
  if (!y)
    fail(path, spec.y.scale == Scale::kLog10 ? "no finite positive values" : "no finite values");
  const double n = static_cast<double>(heights.size());
  const Window w{{-0.5, n - 0.5}, bar_range(*y, spec.y.scale)};
  check_window(path, w);
  const double base = spec.y.scale == Scale::kLog10 ? w.y.lo : 0.0;

  // Each bar is a vertical segment for the legend to avoid, as is the reference line.
  std::vector<Polyline> lines;
  if (ref) lines.push_back({{w.x.lo, w.x.hi}, {*ref, *ref}});
  for (std::size_t i = 0; i < heights.size(); ++i) {
    const double h = heights[i], x = static_cast<double>(i);
    if (std::isfinite(h)) lines.push_back({{x, x}, {base, h}});
  }
  render(path, spec, 1, [&] {
    draw_axes(w, spec, /*integer_x=*/true);
    plcol0(series_colour(0));
    for (std::size_t i = 0; i < heights.size(); ++i) {
      const double x = static_cast<double>(i);
      if (std::isfinite(heights[i]))
        fill_bar(x - kBarHalfWidth, x + kBarHalfWidth, base, heights[i]);
    }
    redraw_frame();
    if (!ref) return;
    plcol0(series_colour(1));
    pllsty(kDashed);
    plline(2, lines[0].x.data(), lines[0].y.data());
    pllsty(kSolid);
    if (!bars.reference->label.empty()) {
      draw_legend({{bars.reference->label, series_colour(1), kDashed, false}}, lines, w);
    }
  });
}

void plot_histograms(const std::string& path, const std::vector<Histogram>& panels) {
  if (panels.empty()) fail(path, "no histograms");
  std::vector<std::vector<double>> heights;  // per bin: count, or log10 count (-inf when empty)
  std::vector<Window> windows;
  for (const Histogram& h : panels) {
    const std::string name = "histogram '" + h.spec.title + "'";
    check_spec(path, h.spec, name);
    if (h.spec.width != panels[0].spec.width || h.spec.height != panels[0].spec.height) {
      fail(path, name + " is not the size of the first panel, as panels side by side must be");
    }
    if (h.spec.x.scale != Scale::kLinear) fail(path, name + " needs a linear x axis");
    if (h.bins < 1 || h.bins > kMaxBins) {
      fail(path, name + " needs 1 to " + std::to_string(kMaxBins) + " bins");
    }
    if (!(h.lo < h.hi) || !std::isfinite(h.hi - h.lo)) {
      fail(path, name + " needs a finite range with lo < hi");
    }
    std::vector<double> counts = bin_counts(h.values, h.bins, h.lo, h.hi);
    if (std::none_of(counts.begin(), counts.end(), [](double c) { return c > 0; })) {
      fail(path, name + " has no finite values");
    }
    for (double& c : counts) c = to_world(c, h.spec.y);
    const Window w{pad({h.lo, h.hi}, 0.0, kMargin), bar_range(*extent(counts), h.spec.y.scale)};
    check_window(path, w);
    heights.push_back(std::move(counts));
    windows.push_back(w);
  }

  render(path, panels[0].spec, static_cast<int>(panels.size()), [&] {
    for (std::size_t p = 0; p < panels.size(); ++p) {
      const Histogram& h = panels[p];
      const Window& w = windows[p];
      draw_axes(w, h.spec);
      const double base = h.spec.y.scale == Scale::kLog10 ? w.y.lo : 0.0;
      const double bin_width = (h.hi - h.lo) / h.bins;
      for (int i = 0; i < h.bins; ++i) {
        const double y = heights[p][i];
        if (!std::isfinite(y) || y <= base) continue;  // empty bin
        const double x0 = h.lo + i * bin_width, x1 = x0 + bin_width;
        plcol0(series_colour(0));
        fill_bar(x0, x1, base, y);
        // Thin background-coloured edges keep neighbouring bins apart.
        PLFLT ex[] = {x0, x0, x1, x1}, ey[] = {base, y, y, base};
        plcol0(kBackground);
        plwidth(1);
        plline(4, ex, ey);
        plwidth(kLineWidth);
      }
      redraw_frame();
    }
  });
}

void plot_labelled_points(const std::string& path, const PlotSpec& spec,
                          const std::vector<LabelledPoint>& points) {
  check_spec(path, spec);
  if (points.empty()) fail(path, "no points");
  std::vector<LabelledPoint> shown;  // in world coordinates
  std::vector<double> xs, ys;
  for (LabelledPoint p : points) {
    p.x = to_world(p.x, spec.x);
    p.y = to_world(p.y, spec.y);
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    xs.push_back(p.x);
    ys.push_back(p.y);
    shown.push_back(std::move(p));
  }
  if (shown.empty()) fail(path, no_points(spec));
  const Window w{pad(*extent(xs), 0.0, kLabelMargin), pad(*extent(ys), 0.0, kLabelMargin)};
  check_window(path, w);

  render(path, spec, 1, [&] {
    draw_axes(w, spec);
    plcol0(series_colour(0));
    plschr(0, kMarkerScale);
    plstring(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), kMarker);
    plcol0(kInk);
    draw_labels(shown, w);
  });
}

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

void plot_frontier(const std::string& path, const PlotSpec& spec,
                   const std::vector<FrontierCurve>& curves) {
  check_spec(path, spec);
  if (curves.empty()) fail(path, "no curves");
  // Per curve, in world coordinates: its Pareto-optimal points in order of x, and the others.
  std::vector<Polyline> fronts, beaten;
  std::vector<LabelledPoint> shown;  // every point drawn, for its label
  std::vector<double> all_x, all_y;
  for (const FrontierCurve& c : curves) {
    std::vector<LabelledPoint> drawable;
    for (LabelledPoint p : c.points) {
      p.x = to_world(p.x, spec.x);
      p.y = to_world(p.y, spec.y);
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      all_x.push_back(p.x);
      all_y.push_back(p.y);
      drawable.push_back(std::move(p));
    }
    // Both transforms are increasing, so the world's Pareto points are the values'.
    const std::vector<bool> optimal = pareto_optimal(drawable);
    std::vector<std::size_t> order(drawable.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return drawable[a].x < drawable[b].x ||
             (drawable[a].x == drawable[b].x && drawable[a].y < drawable[b].y);
    });
    Polyline front, others;
    for (const std::size_t i : order) {
      Polyline& to = optimal[i] ? front : others;
      to.x.push_back(drawable[i].x);
      to.y.push_back(drawable[i].y);
      shown.push_back(drawable[i]);
    }
    fronts.push_back(std::move(front));
    beaten.push_back(std::move(others));
  }
  const std::optional<Range> x = extent(all_x), y = extent(all_y);
  // No fake floor for what a log axis cannot show: an empty frame, its legend still there.
  const Window w{x ? (spec.x.scale == Scale::kLog10 ? decade_range(*x) : pad(*x, 0.0, kLabelMargin))
                   : kEmptyFrontierRange,
                 y ? pad(*y, 0.0, kLabelMargin) : kEmptyFrontierRange};
  check_window(path, w);

  std::vector<LegendEntry> legend;
  std::vector<Polyline> avoid = fronts;  // for the legend: the lines, and each hollow marker
  bool any_beaten = false;
  for (std::size_t i = 0; i < curves.size(); ++i) {
    legend.push_back({curves[i].label, series_colour(static_cast<int>(i)), kSolid, true});
    for (std::size_t j = 0; j < beaten[i].x.size(); ++j) {
      avoid.push_back({{beaten[i].x[j]}, {beaten[i].y[j]}});
      any_beaten = true;
    }
  }
  if (any_beaten) {
    legend.push_back({"not on its curve's Pareto front", kInk, kSolid, true, false, kHollowMarker});
  }
  render(path, spec, 1, [&] {
    draw_axes(w, spec);
    for (std::size_t i = 0; i < curves.size(); ++i) {
      plcol0(series_colour(static_cast<int>(i)));
      const Polyline& f = fronts[i];
      const Polyline& b = beaten[i];
      if (f.x.size() > 1) plline(static_cast<PLINT>(f.x.size()), f.x.data(), f.y.data());
      plschr(0, kMarkerScale);
      if (!f.x.empty()) plstring(static_cast<PLINT>(f.x.size()), f.x.data(), f.y.data(), kMarker);
      if (!b.x.empty()) {
        plstring(static_cast<PLINT>(b.x.size()), b.x.data(), b.y.data(), kHollowMarker);
      }
      plschr(0, kTextScale);
    }
    plcol0(kInk);
    draw_labels(shown, w);
    draw_legend(legend, avoid, w);
  });
}

}  // namespace sae
