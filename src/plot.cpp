#include "sae/plot.hpp"

#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "sae/atomic_file.hpp"

namespace sae {
namespace {

// Colour map 0: background, axes and text, the series (Tableau 10), and last the grid.
constexpr PLINT kRed[] = {255, 0, 31, 255, 44, 214, 148, 140, 227, 127, 188, 23, 200};
constexpr PLINT kGreen[] = {255, 0, 119, 127, 160, 39, 103, 86, 119, 127, 189, 190, 200};
constexpr PLINT kBlue[] = {255, 0, 180, 14, 44, 40, 189, 75, 194, 127, 34, 207, 200};
constexpr PLINT kColours = sizeof(kRed) / sizeof(kRed[0]);
constexpr PLINT kBackground = 0, kInk = 1, kFirstSeries = 2, kGrid = kColours - 1;
constexpr PLFLT kTextScale = 0.9, kTitleScale = 1.2, kMarkerScale = 1.8, kLabelScale = 0.75,
                kLineWidth = 2.0;
// The most decades a log axis labels one by one.
constexpr double kMaxDecades = 8;
// pllsty line styles.
constexpr PLINT kSolid = 1, kDashed = 3;
// Pixels; a histogram panel is narrower than a page, as panels come side by side.
constexpr PLINT kPageWidth = 800, kPageHeight = 600, kPanelWidth = 700;
constexpr const char* kMarker = "•";  // cairo draws it with a system font, centred on the point

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("plot " + path + ": " + what);
}

PLINT series_colour(int i) {
  return kFirstSeries + i % (kGrid - kFirstSeries);
}

// PLplot treats '#' as the start of an escape sequence ("#u" = superscript, ...).
std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '#') out += '#';
  }
  return out;
}

// Characters rather than bytes, for estimating how wide a UTF-8 label is drawn.
std::size_t text_length(const std::string& text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

// Running minimum and maximum of the values added; empty until one is.
struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Widens [lo, hi] by `margin` of its width so lines and markers do not sit on the frame, and a
// single value still spans some range, at least `min_half` either side.
void pad_range(double& lo, double& hi, double min_half, double margin = 0.04) {
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double half = std::max(min_half, lo == 0 ? 1.0 : 0.1 * std::abs(lo));
    lo -= half;
    hi += half;
  } else {
    const double pad = margin * (hi - lo);
    lo -= pad;
    hi += pad;
  }
}

// Pads a range of log10 values out to whole decades: PLplot labels only those, so this shows at
// least one decade boundary at each end.
void pad_log_range(double& lo, double& hi) {
  pad_range(lo, hi, 0.0);
  lo = std::floor(lo);
  hi = std::ceil(hi);
}

// The axes' extent in world coordinates (log10 of the value on a logarithmic axis).
struct Window {
  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
};

// plwind calls exit() on an empty window, huge values can pad out to infinity, and PLplot's
// world-to-device scale overflows on spans near the smallest doubles (nothing gets drawn).
void check_window(const std::string& path, const Window& w) {
  const double x_span = w.x_hi - w.x_lo, y_span = w.y_hi - w.y_lo;
  if (!std::isfinite(x_span) || !std::isfinite(y_span)) fail(path, "values too large to plot");
  if (!(x_span > 1e-250 && y_span > 1e-250)) fail(path, "values too close to zero to plot");
}

// A polyline in world coordinates.
struct Points {
  std::vector<PLFLT> x, y;
};

// The finite points of a series, with y already in log10 when the axis is logarithmic.
Points finite_points(const Series& s, bool log_y) {
  Points p;
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    const double y = log_y ? std::log10(s.y[i]) : s.y[i];  // log10 of y <= 0 is not finite
    if (std::isfinite(s.x[i]) && std::isfinite(y)) {
      p.x.push_back(s.x[i]);
      p.y.push_back(y);
    }
  }
  return p;
}

// One legend row: a line in `colour` and pllsty `style`, with a marker on it if `marker`.
struct LegendEntry {
  std::string label;
  PLINT colour = kInk;
  PLINT style = kSolid;
  bool marker = false;
};

// Picks the corner for the legend whose box covers the least of `lines`, sampling along them; top
// right (where falling loss curves leave room) wins ties.
PLINT legend_corner(const std::vector<LegendEntry>& entries, const std::vector<Points>& lines,
                    const Window& w) {
  std::size_t longest = 0;
  for (const LegendEntry& e : entries) longest = std::max(longest, text_length(e.label));
  // Rough legend size as a fraction of the axes, measured on rendered plots.
  const double box_w = 0.18 + 0.014 * longest, box_h = 0.04 + 0.045 * entries.size();
  const PLINT corners[] = {PL_POSITION_TOP | PL_POSITION_RIGHT, PL_POSITION_TOP | PL_POSITION_LEFT,
                           PL_POSITION_BOTTOM | PL_POSITION_RIGHT,
                           PL_POSITION_BOTTOM | PL_POSITION_LEFT};
  int covered[4] = {};
  constexpr int kSamples = 10;
  for (const Points& p : lines) {
    for (std::size_t i = 0; i < p.x.size(); ++i) {
      const std::size_t next = std::min(i + 1, p.x.size() - 1);
      for (int k = 0; k < kSamples; ++k) {
        const double t = static_cast<double>(k) / kSamples;
        const double u = ((1 - t) * p.x[i] + t * p.x[next] - w.x_lo) / (w.x_hi - w.x_lo);
        const double v = ((1 - t) * p.y[i] + t * p.y[next] - w.y_lo) / (w.y_hi - w.y_lo);
        for (int c = 0; c < 4; ++c) {
          const bool right = corners[c] & PL_POSITION_RIGHT, top = corners[c] & PL_POSITION_TOP;
          if ((right ? u > 1 - box_w : u < box_w) && (top ? v > 1 - box_h : v < box_h)) {
            ++covered[c];
          }
        }
      }
    }
  }
  return corners[std::min_element(covered, covered + 4) - covered];
}

// Draws the legend in the corner where it hides the least of `lines`.
void draw_legend(const std::vector<LegendEntry>& entries, const std::vector<Points>& lines,
                 const Window& w) {
  const int n = static_cast<int>(entries.size());
  std::vector<std::string> labels;
  std::vector<const char*> texts, symbols(n, kMarker);
  std::vector<PLINT> options(n), colours(n), styles(n), symbol_numbers(n, 3), text_colours(n, kInk);
  std::vector<PLFLT> widths(n, kLineWidth), symbol_scales(n, kMarkerScale);
  for (const LegendEntry& e : entries) labels.push_back(escape(e.label));
  for (int i = 0; i < n; ++i) {
    texts.push_back(labels[i].c_str());
    options[i] = PL_LEGEND_LINE | (entries[i].marker ? PL_LEGEND_SYMBOL : 0);
    colours[i] = entries[i].colour;
    styles[i] = entries[i].style;
  }
  PLFLT width = 0, height = 0;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           legend_corner(entries, lines, w) | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, kBackground,
           kInk, 1, 0, 0, n, options.data(), 1.0, 1.0, 2.0, 0.0, text_colours.data(), texts.data(),
           nullptr, nullptr, nullptr, nullptr, colours.data(), styles.data(), widths.data(),
           colours.data(), symbol_scales.data(), symbol_numbers.data(), symbols.data());
  pllsty(kSolid);
}

// A fresh PLplot stream drawing `panels` side by side into the PNG `file`, `width` pixels wide;
// ending it (plend1 writes the PNG) happens even when we throw.
class Page {
 public:
  Page(const std::string& file, PLINT width = kPageWidth, PLINT panels = 1) {
    plmkstrm(&id_);
    plsdev("pngcairo");
    plsfnam(file.c_str());
    plspage(0, 0, width, kPageHeight, 0, 0);
    plscmap0(kRed, kGreen, kBlue, kColours);
    plssub(panels, 1);
    plinit();
    // PLplot sizes text and ticks by the page's width plus height; keep them as on a default page
    // however wide this one is.
    const PLFLT scale = static_cast<PLFLT>(kPageWidth + kPageHeight) / (width + kPageHeight);
    PLFLT default_height = 0, height = 0;
    plgchr(&default_height, &height);
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

// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `x`.
double nice_step(double x) {
  if (!(x > 1)) return 1;  // also ends the loop below for NaN
  for (double decade = 1;; decade *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * decade >= x) return m * decade;
    }
  }
}

// Labels a tick at log10 value `value` as a power of ten.
void decade_label(PLINT, PLFLT value, char* label, PLINT length, PLPointer) {
  std::snprintf(label, length, "10#u%d#d", static_cast<int>(std::lround(value)));
}

// Advances to the next panel and draws its grid, frame, ticks, axis labels and title over `w`;
// `integer_x` keeps x ticks off fractions, for bar indices.
void draw_axes(const Window& w, const std::string& title, const std::string& x_label,
               const std::string& y_label, bool log_y, bool integer_x = false, bool log_x = false) {
  pladv(0);
  plwidth(1);
  plschr(0, kTextScale);
  // Plain decimals up to 6 characters; beyond that PLplot puts a "(x10^-4)" factor in the corner.
  plsxax(6, 0);
  plsyax(6, 0);
  plvsta();
  plwind(w.x_lo, w.x_hi, w.y_lo, w.y_hi);
  // PLplot's automatic ticks are integers on wide ranges only.
  const bool unit_x = integer_x && w.x_hi - w.x_lo <= 12;
  const double x_step = unit_x ? 1 : 0;
  const PLINT x_sub = unit_x ? 1 : 0;
  // PLplot's log axis labels every decade, and over many decades the labels overlap; there the axis
  // is drawn as a linear one in log10 units with our own labels every `y_step` decades.
  const double y_step = log_y ? nice_step((w.y_hi - w.y_lo) / kMaxDecades) : 0;
  const bool many = y_step > 1;
  // A minor tick per decade, where they do not crowd.
  const PLINT y_sub = many && y_step <= 10 ? static_cast<PLINT>(y_step) : 0;
  if (many) plslabelfunc(decade_label, nullptr);
  plcol0(kGrid);
  plbox(log_x ? "ghl" : "g", x_step, x_sub, log_y && !many ? "ghl" : "g", y_step, y_sub);
  plcol0(kInk);
  plbox(log_x ? "bcnstl" : "bcnst", x_step, x_sub,
        !log_y ? "bcnstv"
        : many ? "bcnstvo"
               : "bcnstvl",
        y_step, y_sub);
  plmtex("b", 3.2, 0.5, 0.5, escape(x_label).c_str());
  // Further out than pllab's y label, which touches 5-digit tick labels.
  plmtex("l", 6.2, 0.5, 0.5, escape(y_label).c_str());
  plschr(0, kTitleScale);
  plmtex("t", 1.5, 0.5, 0.5, escape(title).c_str());
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

// The y window for bars of heights `y` that stand on zero, or on the axis bottom when `log_y`.
void bar_y_range(Extent y, bool log_y, Window& w) {
  if (log_y) {
    pad_log_range(y.lo, y.hi);
  } else {
    const bool above_zero = y.lo >= 0;
    y.add(0);
    pad_range(y.lo, y.hi, 0.0);
    if (above_zero) y.lo = 0;  // bars stand on the frame
  }
  w.y_lo = y.lo;
  w.y_hi = y.hi;
}

// The label positions tried, as directions from the point to the label box; right first.
constexpr double kPlacements[][2] = {{1, 0}, {-1, 0}, {0, 1},  {0, -1},
                                     {1, 1}, {1, -1}, {-1, 1}, {-1, -1}};

// Draws each label next to its point, choosing per label the placement that hides the fewest
// markers and earlier labels and stays inside the frame, moving it further out in a crowd.
void draw_labels(const std::vector<LabelledPoint>& points, const Window& w) {
  plschr(0, kLabelScale);
  // Work in millimetres on the page, where text sizes are known.
  PLFLT page_x0, page_x1, page_y0, page_y1, vp_x0, vp_x1, vp_y0, vp_y1, unused, char_h;
  plgspa(&page_x0, &page_x1, &page_y0, &page_y1);
  plgvpd(&vp_x0, &vp_x1, &vp_y0, &vp_y1);
  plgchr(&unused, &char_h);
  const double width_mm = (vp_x1 - vp_x0) * (page_x1 - page_x0);
  const double height_mm = (vp_y1 - vp_y0) * (page_y1 - page_y0);
  auto to_mm_x = [&](double x) { return (x - w.x_lo) / (w.x_hi - w.x_lo) * width_mm; };
  auto to_mm_y = [&](double y) { return (y - w.y_lo) / (w.y_hi - w.y_lo) * height_mm; };

  struct Box {
    double x0, x1, y0, y1;
  };
  auto overlap = [](const Box& a, const Box& b) {
    return std::max(0.0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0)) *
           std::max(0.0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  };
  // Markers are about a character wide; a character of text about 0.78 of the character height
  // (measured on digit-heavy labels).
  std::vector<Box> taken;
  for (const LabelledPoint& p : points) {
    const double x = to_mm_x(p.x), y = to_mm_y(p.y), r = 0.6 * char_h;
    taken.push_back({x - r, x + r, y - r, y + r});
  }
  const Box frame{0, width_mm, 0, height_mm};
  for (const LabelledPoint& p : points) {
    if (p.label.empty()) continue;
    const double x = to_mm_x(p.x), y = to_mm_y(p.y);
    const double half_w = 0.39 * char_h * text_length(p.label), half_h = 0.75 * char_h;
    const double area = 4 * half_w * half_h;
    Box best{};
    double best_cost = std::numeric_limits<double>::infinity();
    for (double gap : {0.8 * char_h, 2.5 * char_h}) {
      for (const auto& [dx, dy] : kPlacements) {
        const double cx = x + dx * (half_w + gap), cy = y + dy * (half_h + 0.5 * gap);
        const Box box{cx - half_w, cx + half_w, cy - half_h, cy + half_h};
        // Each thing hidden counts fully, however little of it; the area hidden breaks ties.
        double cost = gap > char_h ? 0.5 : 0.0;
        const double outside = area - overlap(box, frame);
        if (outside > 0) cost += 2 + outside / area;
        for (const Box& t : taken) {
          const double hidden = overlap(box, t);
          if (hidden > 0) cost += 1 + hidden / area;
        }
        if (cost < best_cost) {
          best_cost = cost;
          best = box;
        }
      }
    }
    taken.push_back(best);
    const double tx = w.x_lo + best.x0 / width_mm * (w.x_hi - w.x_lo);
    const double ty = w.y_lo + 0.5 * (best.y0 + best.y1) / height_mm * (w.y_hi - w.y_lo);
    plptex(tx, ty, 1, 0, 0, escape(p.label).c_str());
  }
  plschr(0, kTextScale);
}

}  // namespace

void plot_lines(const std::string& path, const std::string& title, const std::string& x_label,
                const std::string& y_label, const std::vector<Series>& series, bool log_y) {
  if (series.empty()) fail(path, "no series");

  std::vector<Points> points;
  Extent x, y;
  for (const Series& s : series) {
    if (s.x.empty() || s.x.size() != s.y.size()) {
      fail(path, "series '" + s.label + "' is empty or has different numbers of x and y values");
    }
    points.push_back(finite_points(s, log_y));
    for (std::size_t i = 0; i < points.back().x.size(); ++i) {
      x.add(points.back().x[i]);
      y.add(points.back().y[i]);
    }
  }
  if (x.empty()) fail(path, log_y ? "no finite positive points" : "no finite points");

  Window w{x.lo, x.hi, y.lo, y.hi};
  // x is usually an epoch or step: one point gets a range of +-1 around it.
  pad_range(w.x_lo, w.x_hi, 1.0);
  if (log_y) {
    pad_log_range(w.y_lo, w.y_hi);
  } else {
    pad_range(w.y_lo, w.y_hi, 0.0);
  }
  check_window(path, w);

  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < series.size(); ++i) {
    legend.push_back({series[i].label, series_colour(static_cast<int>(i)), kSolid, true});
  }
  write_atomically(path, [&](const std::string& tmp_path) {
    Page page(tmp_path);
    draw_axes(w, title, x_label, y_label, log_y);
    for (std::size_t i = 0; i < series.size(); ++i) {
      const Points& p = points[i];
      const PLINT n = static_cast<PLINT>(p.x.size());
      plcol0(series_colour(static_cast<int>(i)));
      plline(n, p.x.data(), p.y.data());
      plschr(0, kMarkerScale);
      plstring(n, p.x.data(), p.y.data(), kMarker);
      plschr(0, kTextScale);
    }
    draw_legend(legend, points, w);
  });
}

void plot_bars(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<double>& values, double reference,
               const std::string& reference_label, bool log_y) {
  if (values.empty()) fail(path, "no values");
  const double ref = log_y ? std::log10(reference) : reference;
  if (!std::isfinite(ref)) {
    fail(path, std::string("the reference must be finite") + (log_y ? " and positive" : ""));
  }
  // Bars that cannot be drawn (not finite, or <= 0 on a log axis) are left as gaps.
  std::vector<double> heights;
  Extent y;
  y.add(ref);
  for (double v : values) {
    heights.push_back(log_y ? std::log10(v) : v);
    if (std::isfinite(heights.back())) y.add(heights.back());
  }
  const double n = static_cast<double>(values.size());
  Window w{-0.5, n - 0.5};
  bar_y_range(y, log_y, w);
  check_window(path, w);
  const double base = log_y ? w.y_lo : 0.0;

  // Each bar is a vertical segment for the legend to avoid, as is the reference line.
  std::vector<Points> lines{{{w.x_lo, w.x_hi}, {ref, ref}}};
  for (std::size_t i = 0; i < heights.size(); ++i) {
    const double h = heights[i];
    if (std::isfinite(h))
      lines.push_back({{static_cast<double>(i), static_cast<double>(i)}, {base, h}});
  }
  write_atomically(path, [&](const std::string& tmp_path) {
    Page page(tmp_path);
    draw_axes(w, title, x_label, y_label, log_y, true);
    plcol0(series_colour(0));
    for (std::size_t i = 0; i < heights.size(); ++i) {
      if (std::isfinite(heights[i])) fill_bar(i - 0.4, i + 0.4, base, heights[i]);
    }
    redraw_frame();
    plcol0(series_colour(1));
    pllsty(kDashed);
    plline(2, lines[0].x.data(), lines[0].y.data());
    pllsty(kSolid);
    if (!reference_label.empty()) {
      draw_legend({{reference_label, series_colour(1), kDashed, false}}, lines, w);
    }
  });
}

void plot_histograms(const std::string& path, const std::vector<Histogram>& panels) {
  if (panels.empty()) fail(path, "no histograms");
  std::vector<std::vector<double>> heights;  // per bin: count, or log10 count (-inf when empty)
  std::vector<Window> windows;
  for (const Histogram& h : panels) {
    const std::string name = "histogram '" + h.title + "'";
    if (h.bins < 1 || h.bins > 100000) fail(path, name + " needs 1 to 100000 bins");
    if (!(h.lo < h.hi) || !std::isfinite(h.hi - h.lo)) {
      fail(path, name + " needs a finite range with lo < hi");
    }
    std::vector<double> counts(h.bins, 0.0);
    for (double v : h.values) {
      if (!std::isfinite(v)) continue;
      // Clamped as a double first: the bin of a huge value may not fit in an int.
      const double bin = std::floor((v - h.lo) / (h.hi - h.lo) * h.bins);
      ++counts[static_cast<int>(std::clamp(bin, 0.0, h.bins - 1.0))];
    }
    if (std::none_of(counts.begin(), counts.end(), [](double c) { return c > 0; })) {
      fail(path, name + " has no finite values");
    }
    Extent y;
    for (double& c : counts) {
      if (h.log_counts) c = std::log10(c);
      if (std::isfinite(c)) y.add(c);
    }
    Window w{h.lo, h.hi};
    pad_range(w.x_lo, w.x_hi, 0.0);
    bar_y_range(y, h.log_counts, w);
    check_window(path, w);
    heights.push_back(std::move(counts));
    windows.push_back(w);
  }

  write_atomically(path, [&](const std::string& tmp_path) {
    const PLINT n = static_cast<PLINT>(panels.size());
    Page page(tmp_path, n * kPanelWidth, n);
    for (std::size_t p = 0; p < panels.size(); ++p) {
      const Histogram& h = panels[p];
      const Window& w = windows[p];
      draw_axes(w, h.title, h.x_label, "count", h.log_counts);
      const double base = h.log_counts ? w.y_lo : 0.0, bin_width = (h.hi - h.lo) / h.bins;
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

void plot_labelled_points(const std::string& path, const std::string& title,
                          const std::string& x_label, const std::string& y_label,
                          const std::vector<LabelledPoint>& points, double log_x_floor) {
  if (points.empty()) fail(path, "no points");
  const bool log_x = log_x_floor > 0;
  if (log_x && !std::isfinite(log_x_floor)) fail(path, "the log x floor must be finite");
  std::vector<LabelledPoint> shown;
  Extent x, y;
  for (LabelledPoint p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    if (log_x) p.x = std::log10(std::max(p.x, log_x_floor));  // PLplot's log axes take log10 data
    shown.push_back(p);
    x.add(p.x);
    y.add(p.y);
  }
  if (shown.empty()) fail(path, "no finite points");
  Window w{x.lo, x.hi, y.lo, y.hi};
  // Wider margins leave room for the labels of points near the frame.
  pad_range(w.x_lo, w.x_hi, 0.0, 0.08);
  pad_range(w.y_lo, w.y_hi, 0.0, 0.08);
  check_window(path, w);

  Points markers;
  for (const LabelledPoint& p : shown) {
    markers.x.push_back(p.x);
    markers.y.push_back(p.y);
  }
  write_atomically(path, [&](const std::string& tmp_path) {
    Page page(tmp_path);
    draw_axes(w, title, x_label, y_label, /*log_y=*/false, /*integer_x=*/false, log_x);
    plcol0(series_colour(0));
    plschr(0, kMarkerScale);
    plstring(static_cast<PLINT>(markers.x.size()), markers.x.data(), markers.y.data(), kMarker);
    plcol0(kInk);
    draw_labels(shown, w);
  });
}

}  // namespace sae
