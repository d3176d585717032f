#include "sae/plot/draw.hpp"

#include <plplot.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <type_traits>

#include "sae/plot/publish_png.hpp"

namespace sae::plot_draw {
namespace {

// Polylines go to PLplot as they are.
static_assert(std::is_same_v<PLFLT, double>, "PLplot must be built with double precision");

// Colour map 0: background, axes and text, the series (Tableau 10), and last the grid.
constexpr PLINT kRed[] = {255, 0, 31, 255, 44, 214, 148, 140, 227, 127, 188, 23, 200};
constexpr PLINT kGreen[] = {255, 0, 119, 127, 160, 39, 103, 86, 119, 127, 189, 190, 200};
constexpr PLINT kBlue[] = {255, 0, 180, 14, 44, 40, 189, 75, 194, 127, 34, 207, 200};
constexpr PLINT kColours = sizeof(kRed) / sizeof(kRed[0]);
static_assert(kGrid == kColours - 1, "the grid's colour is the map's last");

// Text and ticks are sized for this page; larger pages scale them down to look the same.
constexpr int kDefaultWidth = 800, kDefaultHeight = 600;
// Below this nothing fits around the frame; above it cairo's surface gets huge.
constexpr int kMinPixels = 100, kMaxPixels = 10000;
// Notes in a legend are a shade lighter than the entries they follow.
constexpr PLINT kNoteColour = kFirstSeries + 7;  // Tableau's gray
// Reference lines' colours (series, after the first, which draws the data) and styles, in order.
constexpr int kReferenceSeries[] = {1, 2, 4, 5};
constexpr int kReferenceStyles[] = {kDashed, kShortDashes};
// A legend's colour box, in character heights.
constexpr PLFLT kBoxScale = 0.8;

using namespace plot_layout;

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

}  // namespace

void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("plot " + path + ": " + what);
}

int series_colour(int i) {
  return kFirstSeries + i % (kGrid - kFirstSeries);
}

void check_spec(const std::string& path, const PlotSpec& spec, const std::string& what) {
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
    if (axis->integers && axis->scale != Scale::kLinear) {
      fail(path, prefix + "integer ticks on the " + name + " axis need a linear scale");
    }
  }
}

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

void render(const std::string& path, const PlotSpec& spec, int panels,
            const std::function<void()>& draw) {
  publish_png(path, [&](const std::string& file) {
    const Page page(file, spec.width, spec.height, panels);
    draw();
  });
}

void draw_axes(const Window& w, const PlotSpec& spec, bool integer_x) {
  pladv(0);
  plwidth(1);
  plschr(0, kTextScale);
  // Plain decimals up to 6 characters; beyond that PLplot puts a "(x10^-4)" factor in the corner.
  plsxax(6, 0);
  plsyax(6, 0);
  plvsta();
  plwind(w.x.lo, w.x.hi, w.y.lo, w.y.hi);
  const Ticks x = axis_ticks(w.x, spec.x.scale, integer_x || spec.x.integers);
  const Ticks y = axis_ticks(w.y, spec.y.scale, spec.y.integers);
  plslabelfunc(x.decade_labels || y.decade_labels ? decade_label : nullptr, nullptr);
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

void redraw_frame() {
  plcol0(kInk);
  plwidth(1);
  plbox("bc", 0, 0, "bc", 0, 0);
  plwidth(kLineWidth);
}

void fill_bar(double x0, double x1, double y0, double y1) {
  PLFLT x[] = {x0, x1, x1, x0}, y[] = {y0, y0, y1, y1};
  plfill(4, x, y);
}

void draw_segment(double x0, double y0, double x1, double y1, int colour, int style) {
  PLFLT x[] = {x0, x1}, y[] = {y0, y1};
  plcol0(colour);
  pllsty(style);
  plline(2, x, y);
  pllsty(kSolid);
}

void draw_markers(const Polyline& p, const char* glyph, double scale, int colour) {
  if (p.x.empty()) return;
  plcol0(colour);
  plschr(0, scale);
  plstring(static_cast<PLINT>(p.x.size()), p.x.data(), p.y.data(), glyph);
  plschr(0, kTextScale);
}

LegendEntry note_entry(const std::string& text) {
  LegendEntry entry;
  entry.label = text;
  entry.colour = kNoteColour;
  entry.line = false;
  return entry;
}

int reference_colour(std::size_t i) {
  return series_colour(kReferenceSeries[i % std::size(kReferenceSeries)]);
}

int reference_style(std::size_t i) {
  return kReferenceStyles[i % std::size(kReferenceStyles)];
}

void add_references(std::vector<LegendEntry>& legend, const std::vector<ReferenceLine>& lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].label.empty()) continue;
    legend.push_back({lines[i].label, reference_colour(i), reference_style(i), false});
  }
}

void draw_legend(const std::vector<LegendEntry>& entries, const std::vector<Polyline>& lines,
                 const Window& w) {
  if (entries.empty()) return;
  const int n = static_cast<int>(entries.size());
  std::vector<std::string> labels, escaped;
  std::vector<const char*> texts, symbols;
  std::vector<PLINT> options(n), colours(n), styles(n), symbol_numbers(n), text_colours(n),
      box_patterns(n, 0);
  std::vector<PLFLT> widths(n, kLineWidth), symbol_scales(n), box_scales(n, kBoxScale),
      box_widths(n, 1.0);
  for (const LegendEntry& e : entries) {
    labels.push_back(e.label);
    escaped.push_back(escape(e.label));
  }
  for (int i = 0; i < n; ++i) {
    const LegendEntry& e = entries[i];
    texts.push_back(escaped[i].c_str());
    options[i] = (e.box    ? PL_LEGEND_COLOR_BOX
                  : e.line ? PL_LEGEND_LINE
                           : 0) |
                 (e.marker ? PL_LEGEND_SYMBOL : 0);
    // A note: its text alone, in the note's colour.
    const bool note = options[i] == 0;
    if (note) options[i] = PL_LEGEND_NONE;
    symbols.push_back(e.symbol);
    colours[i] = e.colour;
    styles[i] = e.style;
    symbol_scales[i] = e.symbol_scale;
    symbol_numbers[i] = e.line ? 3 : 1;  // on a line, three; alone, a marker's one
    text_colours[i] = note ? e.colour : kInk;
  }
  const PLINT corner = legend_position(legend_corner(legend_size(labels), lines, w));
  PLFLT width = 0, height = 0;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           corner | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, kBackground, kInk, 1, 0, 0, n,
           options.data(), 1.0, 1.0, 2.0, 0.0, text_colours.data(), texts.data(), colours.data(),
           box_patterns.data(), box_scales.data(), box_widths.data(), colours.data(), styles.data(),
           widths.data(), colours.data(), symbol_scales.data(), symbol_numbers.data(),
           symbols.data());
  pllsty(kSolid);
}

void draw_labels(const std::vector<LabelledPoint>& points, const Window& w) {
  plcol0(kInk);
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
    // Aligned toward its point: the box's width is an estimate of the text's, so text set at the
    // far edge of a box left of its point would float away from it.
    const Box& box = *boxes[i];
    const double centre = 0.5 * (box.x0 + box.x1);
    const bool left_of = box.x1 <= marks[i].x, right_of = box.x0 >= marks[i].x;
    const double anchor_mm = left_of ? box.x1 : right_of ? box.x0 : centre;
    const double justify = left_of ? 1.0 : right_of ? 0.0 : 0.5;
    const double tx = w.x.lo + anchor_mm / width_mm * (w.x.hi - w.x.lo);
    const double ty = w.y.lo + 0.5 * (box.y0 + box.y1) / height_mm * (w.y.hi - w.y.lo);
    plptex(tx, ty, 1, 0, justify, escape(points[i].label).c_str());
  }
  plschr(0, kTextScale);
}

Range line_range(Range r, Scale scale, double min_half) {
  return scale == Scale::kLog10 ? decade_range(r) : pad(r, min_half, kMargin);
}

}  // namespace sae::plot_draw
