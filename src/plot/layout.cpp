#include "sae/plot/layout.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace sae::plot_layout {
namespace {

// The most decades a log axis labels one by one.
constexpr double kMaxDecades = 8;
// Linear integer ticks one apart up to this span; PLplot's own step beyond.
constexpr double kMaxUnitTicks = 12;

// Rough legend size as a fraction of the axes, measured on rendered plots.
constexpr double kLegendWidth = 0.18, kLegendWidthPerChar = 0.014, kLegendHeight = 0.04,
                 kLegendHeightPerEntry = 0.045;
// Points sampled on each segment of a line, to find how much of it a legend would cover.
constexpr int kLegendSamples = 10;

// Label placement, in character heights: a marker's half-width, a label's half-height, a
// character's width (measured on digit-heavy labels), and the two gaps tried between a point and
// its label.
constexpr double kMarkerRadius = 0.6, kLabelHalfHeight = 0.75, kCharWidth = 0.78, kNearGap = 0.8,
                 kFarGap = 2.5;
// The directions tried, from the point to the label box; right first.
constexpr double kPlacements[][2] = {{1, 0}, {-1, 0}, {0, 1},  {0, -1},
                                     {1, 1}, {1, -1}, {-1, 1}, {-1, -1}};

double overlap_area(const Box& a, const Box& b) {
  return std::max(0.0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0)) *
         std::max(0.0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
}

}  // namespace

double to_world(double value, const Axis& axis) {
  if (!std::isfinite(value)) return std::numeric_limits<double>::quiet_NaN();
  if (axis.scale == Scale::kLinear) return value;
  return std::log10(std::max(value, axis.floor));  // -inf or NaN for what stays <= 0
}

std::optional<Range> extent(const std::vector<double>& values) {
  std::optional<Range> r;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (!r) r = Range{v, v};
    r->lo = std::min(r->lo, v);
    r->hi = std::max(r->hi, v);
  }
  return r;
}

Range pad(Range r, double min_half, double margin) {
  if (r.hi - r.lo < 1e-12 * std::max(1.0, std::abs(r.hi))) {
    const double half = std::max(min_half, r.lo == 0 ? 1.0 : 0.1 * std::abs(r.lo));
    return {r.lo - half, r.hi + half};
  }
  const double extra = margin * (r.hi - r.lo);
  return {r.lo - extra, r.hi + extra};
}

Range decade_range(Range r) {
  // PLplot labels only whole decades on a log axis.
  r = pad(r, 0.0, kMargin);
  return {std::floor(r.lo), std::ceil(r.hi)};
}

Range bar_range(Range heights, Scale scale) {
  if (scale == Scale::kLog10) return decade_range(heights);
  const bool above_zero = heights.lo >= 0;
  Range r = pad({std::min(heights.lo, 0.0), std::max(heights.hi, 0.0)}, 0.0, kMargin);
  if (above_zero) r.lo = 0;  // bars stand on the frame
  return r;
}

std::optional<std::string> window_problem(const Window& w) {
  // plwind calls exit() on an empty window, huge values can pad out to infinity, and PLplot's
  // world-to-device scale overflows on spans near the smallest doubles (nothing gets drawn).
  const double x_span = w.x.hi - w.x.lo, y_span = w.y.hi - w.y.lo;
  if (!std::isfinite(x_span) || !std::isfinite(y_span)) return "values too large to plot";
  if (!(x_span > 1e-250 && y_span > 1e-250)) return "values too close to zero to plot";
  return std::nullopt;
}

double nice_step(double x) {
  if (!(x > 1)) return 1;  // also ends the loop below for NaN
  for (double decade = 1;; decade *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * decade >= x) return m * decade;
    }
  }
}

Ticks axis_ticks(Range r, Scale scale, bool integers) {
  Ticks t;
  if (scale == Scale::kLinear) {
    // PLplot's automatic ticks are integers on wide ranges only.
    if (integers && r.hi - r.lo <= kMaxUnitTicks) t.step = t.minor = 1;
    return t;
  }
  // PLplot's log axis labels every decade, and over many decades the labels overlap; there the
  // axis is drawn as a linear one in log10 units with our own labels every `step` decades.
  t.step = nice_step((r.hi - r.lo) / kMaxDecades);
  t.decade_labels = t.step > 1;
  t.log = !t.decade_labels;
  // A minor tick per decade, where they do not crowd.
  if (t.decade_labels && t.step <= 10) t.minor = static_cast<int>(t.step);
  return t;
}

std::size_t text_length(std::string_view text) {
  // UTF-8 continuation bytes are 10xxxxxx.
  return std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '#') out += '#';
  }
  return out;
}

Size legend_size(const std::vector<std::string>& labels) {
  std::size_t longest = 0;
  for (const std::string& label : labels) longest = std::max(longest, text_length(label));
  return {kLegendWidth + kLegendWidthPerChar * longest,
          kLegendHeight + kLegendHeightPerEntry * labels.size()};
}

Corner legend_corner(const Size& size, const std::vector<Polyline>& lines, const Window& w) {
  constexpr Corner kCorners[] = {Corner::kTopRight, Corner::kTopLeft, Corner::kBottomRight,
                                 Corner::kBottomLeft};
  int covered[4] = {};
  for (const Polyline& p : lines) {
    for (std::size_t i = 0; i < p.x.size(); ++i) {
      const std::size_t next = std::min(i + 1, p.x.size() - 1);
      // Each segment sampled evenly; a lone point weighs as a segment, a line's last point once.
      const int samples = next == i && p.x.size() > 1 ? 1 : kLegendSamples;
      for (int k = 0; k < samples; ++k) {
        const double t = static_cast<double>(k) / kLegendSamples;
        const double u = ((1 - t) * p.x[i] + t * p.x[next] - w.x.lo) / (w.x.hi - w.x.lo);
        const double v = ((1 - t) * p.y[i] + t * p.y[next] - w.y.lo) / (w.y.hi - w.y.lo);
        for (int c = 0; c < 4; ++c) {
          const bool right =
              kCorners[c] == Corner::kTopRight || kCorners[c] == Corner::kBottomRight;
          const bool top = kCorners[c] == Corner::kTopRight || kCorners[c] == Corner::kTopLeft;
          if ((right ? u > 1 - size.width : u < size.width) &&
              (top ? v > 1 - size.height : v < size.height)) {
            ++covered[c];
          }
        }
      }
    }
  }
  // min_element takes the first of equals: top right, where falling loss curves leave room.
  return kCorners[std::min_element(covered, covered + 4) - covered];
}

std::vector<std::optional<Box>> place_labels(const std::vector<Mark>& marks, double width,
                                             double height, double char_height) {
  std::vector<Box> taken;
  for (const Mark& m : marks) {
    const double r = kMarkerRadius * char_height;
    taken.push_back({m.x - r, m.x + r, m.y - r, m.y + r});
  }
  const Box frame{0, width, 0, height};
  std::vector<std::optional<Box>> placed;
  for (const Mark& m : marks) {
    if (m.label_chars == 0) {
      placed.emplace_back();
      continue;
    }
    const double half_w = 0.5 * kCharWidth * char_height * m.label_chars;
    const double half_h = kLabelHalfHeight * char_height;
    const double area = 4 * half_w * half_h;
    Box best;
    double best_cost = std::numeric_limits<double>::infinity();
    for (double gap : {kNearGap * char_height, kFarGap * char_height}) {
      for (const auto& [dx, dy] : kPlacements) {
        const double cx = m.x + dx * (half_w + gap), cy = m.y + dy * (half_h + 0.5 * gap);
        const Box box{cx - half_w, cx + half_w, cy - half_h, cy + half_h};
        // Each thing hidden counts fully, however little of it, and leaving the frame counts
        // twice; the area hidden breaks ties, and the far gap loses to an equal near one.
        double cost = gap > kNearGap * char_height ? 0.5 : 0.0;
        const double outside = area - overlap_area(box, frame);
        if (outside > 0) cost += 2 + outside / area;
        for (const Box& t : taken) {
          const double hidden = overlap_area(box, t);
          if (hidden > 0) cost += 1 + hidden / area;
        }
        if (cost < best_cost) {
          best_cost = cost;
          best = box;
        }
      }
    }
    taken.push_back(best);
    placed.push_back(best);
  }
  return placed;
}

std::vector<double> bin_counts(const std::vector<double>& values, int bins, double lo, double hi) {
  if (bins < 1 || !(lo < hi) || !std::isfinite(hi - lo)) {
    throw std::invalid_argument("bin_counts needs bins >= 1 and a finite range with lo < hi");
  }
  std::vector<double> counts(bins, 0.0);
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    // Clamped as a double first: the bin of a huge value may not fit in an int.
    const double bin = std::floor((v - lo) / (hi - lo) * bins);
    ++counts[static_cast<std::size_t>(std::clamp(bin, 0.0, bins - 1.0))];
  }
  return counts;
}

}  // namespace sae::plot_layout
