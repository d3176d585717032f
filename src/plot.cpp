#include "sae/plot.hpp"

#include <plplot.h>

#include <algorithm>
#include <cmath>
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
constexpr PLFLT kTextScale = 0.9, kTitleScale = 1.2, kMarkerScale = 1.8, kLineWidth = 2.0;
constexpr const char* kMarker = "•";  // cairo draws it with a system font, centred on the point

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

// The finite points of a series, with y already in log10 when the axis is logarithmic.
struct Points {
  std::vector<PLFLT> x, y;
};

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

// Widens [lo, hi] so lines and markers do not sit on the frame and a single value still spans
// some range, at least `min_half` either side.
void pad_range(double& lo, double& hi, double min_half) {
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double half = std::max(min_half, lo == 0 ? 1.0 : 0.1 * std::abs(lo));
    lo -= half;
    hi += half;
  } else {
    const double margin = 0.04 * (hi - lo);
    lo -= margin;
    hi += margin;
  }
}

// Picks the corner for the legend whose box covers the least data, sampling along the lines;
// top right (where falling loss curves leave room) wins ties.
PLINT legend_corner(const std::vector<Series>& series, const std::vector<Points>& points,
                    double x_lo, double x_hi, double y_lo, double y_hi) {
  std::size_t longest = 0;
  for (const Series& s : series) longest = std::max(longest, s.label.size());
  // Rough legend size as a fraction of the axes, measured on rendered plots.
  const double box_w = 0.18 + 0.014 * longest, box_h = 0.04 + 0.045 * series.size();
  const PLINT corners[] = {PL_POSITION_TOP | PL_POSITION_RIGHT, PL_POSITION_TOP | PL_POSITION_LEFT,
                           PL_POSITION_BOTTOM | PL_POSITION_RIGHT,
                           PL_POSITION_BOTTOM | PL_POSITION_LEFT};
  int covered[4] = {};
  constexpr int kSamples = 10;
  for (const Points& p : points) {
    for (std::size_t i = 0; i < p.x.size(); ++i) {
      const std::size_t next = std::min(i + 1, p.x.size() - 1);
      for (int k = 0; k < kSamples; ++k) {
        const double t = static_cast<double>(k) / kSamples;
        const double u = ((1 - t) * p.x[i] + t * p.x[next] - x_lo) / (x_hi - x_lo);
        const double v = ((1 - t) * p.y[i] + t * p.y[next] - y_lo) / (y_hi - y_lo);
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

// Makes a fresh PLplot stream current and ends it (plend1 writes the PNG) even when we throw.
class Stream {
 public:
  Stream() { plmkstrm(&id_); }
  ~Stream() {
    plsstrm(id_);
    plend1();
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

 private:
  PLINT id_ = 0;
};

void draw_legend(const std::vector<Series>& series, PLINT corner) {
  const int n = static_cast<int>(series.size());
  std::vector<std::string> labels;
  std::vector<const char*> texts, symbols(n, kMarker);
  std::vector<PLINT> options(n, PL_LEGEND_LINE | PL_LEGEND_SYMBOL), colours(n), styles(n, 1),
      symbol_numbers(n, 3), text_colours(n, kInk);
  std::vector<PLFLT> widths(n, kLineWidth), symbol_scales(n, kMarkerScale);
  for (int i = 0; i < n; ++i) labels.push_back(escape(series[i].label));
  for (int i = 0; i < n; ++i) {
    texts.push_back(labels[i].c_str());
    colours[i] = series_colour(i);
  }
  PLFLT width = 0, height = 0;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           corner | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, kBackground, kInk, 1, 0, 0, n,
           options.data(), 1.0, 1.0, 2.0, 0.0, text_colours.data(), texts.data(), nullptr, nullptr,
           nullptr, nullptr, colours.data(), styles.data(), widths.data(), colours.data(),
           symbol_scales.data(), symbol_numbers.data(), symbols.data());
}

void draw(const std::string& file, const std::string& title, const std::string& x_label,
          const std::string& y_label, const std::vector<Series>& series,
          const std::vector<Points>& points, bool log_y, double x_lo, double x_hi, double y_lo,
          double y_hi) {
  Stream stream;
  plsdev("pngcairo");
  plsfnam(file.c_str());
  plspage(0, 0, 800, 600, 0, 0);
  plscmap0(kRed, kGreen, kBlue, kColours);
  plinit();

  pladv(0);
  plschr(0, kTextScale);
  // Plain decimals up to 6 characters; beyond that PLplot puts a "(x10^-4)" factor in the corner.
  plsxax(6, 0);
  plsyax(6, 0);
  plvsta();
  plwind(x_lo, x_hi, y_lo, y_hi);
  plcol0(kGrid);
  plbox("g", 0, 0, log_y ? "ghl" : "g", 0, 0);
  plcol0(kInk);
  plbox("bcnst", 0, 0, log_y ? "bcnstvl" : "bcnstv", 0, 0);
  plmtex("b", 3.2, 0.5, 0.5, escape(x_label).c_str());
  // Further out than pllab's y label, which touches 5-digit tick labels.
  plmtex("l", 6.2, 0.5, 0.5, escape(y_label).c_str());
  plschr(0, kTitleScale);
  plmtex("t", 1.5, 0.5, 0.5, escape(title).c_str());

  plwidth(kLineWidth);
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Points& p = points[i];
    const PLINT n = static_cast<PLINT>(p.x.size());
    plcol0(series_colour(static_cast<int>(i)));
    plline(n, p.x.data(), p.y.data());
    plschr(0, kMarkerScale);
    plstring(n, p.x.data(), p.y.data(), kMarker);
  }
  plschr(0, kTextScale);
  draw_legend(series, legend_corner(series, points, x_lo, x_hi, y_lo, y_hi));
}

}  // namespace

void plot_lines(const std::string& path, const std::string& title, const std::string& x_label,
                const std::string& y_label, const std::vector<Series>& series, bool log_y) {
  auto fail = [&](const std::string& what) {
    throw std::runtime_error("plot " + path + ": " + what);
  };
  if (series.empty()) fail("no series");

  std::vector<Points> points;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  for (const Series& s : series) {
    if (s.x.empty() || s.x.size() != s.y.size()) {
      fail("series '" + s.label + "' is empty or has different numbers of x and y values");
    }
    points.push_back(finite_points(s, log_y));
    for (std::size_t i = 0; i < points.back().x.size(); ++i) {
      x_lo = std::min(x_lo, points.back().x[i]);
      x_hi = std::max(x_hi, points.back().x[i]);
      y_lo = std::min(y_lo, points.back().y[i]);
      y_hi = std::max(y_hi, points.back().y[i]);
    }
  }
  if (!(x_lo <= x_hi)) fail(log_y ? "no finite positive points" : "no finite points");

  // x is usually an epoch or step: one point gets a range of +-1 around it.
  pad_range(x_lo, x_hi, 1.0);
  pad_range(y_lo, y_hi, 0.0);
  if (log_y) {
    // PLplot labels only whole decades, so show at least one decade boundary at each end.
    y_lo = std::floor(y_lo);
    y_hi = std::ceil(y_hi);
  }
  write_atomically(path, [&](const std::string& tmp_path) {
    draw(tmp_path, title, x_label, y_label, series, points, log_y, x_lo, x_hi, y_lo, y_hi);
  });
}

}  // namespace sae
