#include "sae/report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sae {
namespace {

// A line chart: its size, and the margins around its plot (title above; ticks and "epoch" below).
constexpr double kChartWidth = 288, kChartHeight = 170;
constexpr double kChartLeft = 48, kChartRight = 12, kChartTop = 28, kChartBottom = 34;
constexpr int kMaxEpochTicks = 8;
constexpr int kYParts = 4;          // about this many steps between y ticks
constexpr size_t kMaxDots = 30;     // with more points than this, the line alone
constexpr double kCharWidth = 5.5;  // of a 10px sans-serif character, about: to lay out legends
// A unit card's histogram: as wide as the card's content.
constexpr double kHistogramWidth = 244, kHistogramHeight = 74;
constexpr double kHistogramLeft = 36, kHistogramRight = 6, kHistogramTop = 6, kHistogramBottom = 16;
constexpr double kMinLabelGap = 10;  // px between two y labels of a histogram
constexpr const char* kAxisColor = "#555";
constexpr const char* kGridColor = "#e6e6e6";
constexpr const char* kTextColor = "#333";
constexpr const char* kBarColor = "#4a6fa5";

/// `text` with the characters that XML gives a meaning escaped.
std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// About how wide `text` (UTF-8) is drawn at 10px: its characters, not its bytes, count.
double text_width(const std::string& text) {
  const auto characters = std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a continuation byte
  });
  return kCharWidth * static_cast<double>(characters);
}

/// A round step (1, 2 or 5 times a power of ten) that cuts `span` (> 0) into about `parts`.
double round_step(double span, int parts) {
  const double raw = span / parts;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / magnitude;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * magnitude;
}

/// The smallest whole step (1, 2, 5, 10, 20, ...) that puts at most `max_ticks` ticks on `span`.
int64_t whole_step(int64_t span, int max_ticks) {
  for (int64_t decade = 1;; decade *= 10) {
    for (const int64_t m : {1, 2, 5}) {
      if (span / (m * decade) + 1 <= max_ticks) return m * decade;
    }
  }
}

/// A y tick's label, with as many decimals as `step` needs.
std::string tick_label(double value, double step) {
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  if (std::abs(value) < step * 1e-6) value = 0;  // no "-0.00"
  return fmt::format("{:.{}f}", value, decimals);
}

/// A count on a log axis: 1, 10, 100, 1k, 10k, 100k, 1M.
std::string count_label(double count) {
  if (count >= 1e6) return fmt::format("{:.0f}M", count / 1e6);
  if (count >= 1e3) return fmt::format("{:.0f}k", count / 1e3);
  return fmt::format("{:.0f}", count);
}

std::string line(double x1, double y1, double x2, double y2, const char* color) {
  return fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}"/>)", x1,
                     y1, x2, y2, color);
}

std::string text(double x, double y, const char* anchor, const std::string& content) {
  return fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="{}">{}</text>)", x, y, anchor,
                     escape(content));
}

}  // namespace

std::string line_chart_svg(const LineChart& chart) {
  // y spans every finite value, the reference line, and 0 when asked.
  double low = INFINITY, high = -INFINITY;
  for (const ChartSeries& s : chart.series) {
    for (const double v : s.values) {
      if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
    }
  }
  if (!std::isfinite(low) || chart.x.empty()) return "";
  if (std::isfinite(chart.reference)) {
    low = std::min(low, chart.reference), high = std::max(high, chart.reference);
  }
  if (chart.from_zero) low = std::min(low, 0.0), high = std::max(high, 0.0);
  if (high - low <= 1e-12 * std::max(1.0, std::abs(high))) {  // a flat line: give it room
    const double pad = chart.integer_values ? 1.0 : low != 0 ? std::abs(low) * 0.1 : 0.1;
    if (!(chart.from_zero && low == 0)) low -= pad;
    high += pad;
  }
  const double step = chart.integer_values ? std::max(1.0, round_step(high - low, kYParts))
                                           : round_step(high - low, kYParts);
  low = std::floor(low / step + 1e-9) * step;  // the axis ends on ticks
  high = std::ceil(high / step - 1e-9) * step;

  // x: whole numbers; one epoch sits in the middle of its axis.
  const int64_t x_first = chart.x.front(), x_last = chart.x.back();
  const double x_pad = x_last > x_first ? 0.04 * static_cast<double>(x_last - x_first) : 1.0;
  const double x_low = static_cast<double>(x_first) - x_pad;
  const double x_high = static_cast<double>(x_last) + x_pad;

  const double plot_w = kChartWidth - kChartLeft - kChartRight;
  const double plot_h = kChartHeight - kChartTop - kChartBottom;
  const double bottom = kChartTop + plot_h, right = kChartLeft + plot_w;
  const auto px = [&](double x) { return kChartLeft + (x - x_low) / (x_high - x_low) * plot_w; };
  const auto py = [&](double y) { return bottom - (y - low) / (high - low) * plot_h; };

  std::string svg = fmt::format(
      R"(<svg class="chart" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img" )"
      R"(aria-label="{2} by epoch" font-family="system-ui, sans-serif" font-size="10" fill="{3}">)",
      kChartWidth, kChartHeight, escape(chart.title), kTextColor);
  svg += fmt::format(R"(<rect width="{}" height="{}" fill="#fff"/>)", kChartWidth, kChartHeight);
  svg += fmt::format(R"(<text x="4" y="15" font-size="12" font-weight="bold">{}</text>)",
                     escape(chart.title));

  for (int i = 0;; ++i) {  // y ticks, with a grid line each
    const double v = low + i * step;
    if (v > high + step * 1e-6) break;
    const double y = py(v);
    svg += line(kChartLeft, y, right, y, kGridColor);
    svg += line(kChartLeft - 4, y, kChartLeft, y, kAxisColor);
    svg += text(kChartLeft - 6, y + 3.5, "end", tick_label(v, step));
  }
  const int64_t x_step = whole_step(x_last - x_first, kMaxEpochTicks);
  const int64_t first_tick =
      static_cast<int64_t>(std::ceil(static_cast<double>(x_first) / x_step)) * x_step;
  for (int64_t t = first_tick; t <= x_last; t += x_step) {
    const double x = px(static_cast<double>(t));
    svg += line(x, bottom, x, bottom + 4, kAxisColor);
    svg += text(x, bottom + 14, "middle", std::to_string(t));
  }
  svg += line(kChartLeft, kChartTop, kChartLeft, bottom, kAxisColor);
  svg += line(kChartLeft, bottom, right, bottom, kAxisColor);
  svg += text(kChartLeft + plot_w / 2, kChartHeight - 5, "middle", chart.x_label);

  if (std::isfinite(chart.reference)) {
    const double y = py(chart.reference);
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#888" )"
                       R"(stroke-dasharray="4 3"/>)",
                       kChartLeft, y, right, y);
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end" fill="#666">{}</text>)",
                       right - 2, y - 3, escape(chart.reference_label));
  }

  for (const ChartSeries& s : chart.series) {
    std::string points, dots;
    for (size_t i = 0; i < s.values.size() && i < chart.x.size(); ++i) {
      if (!std::isfinite(s.values[i])) continue;
      const double x = px(static_cast<double>(chart.x[i])), y = py(s.values[i]);
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", x, y);
      dots += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="2.5" fill="{}"/>)", x, y, s.color);
    }
    if (points.empty()) continue;
    svg += fmt::format(
        R"(<polyline class="series" data-series="{}" fill="none" stroke="{}" stroke-width="1.6" )"
        R"(stroke-linejoin="round" points="{}"/>)",
        escape(s.label), s.color, points);
    if (chart.x.size() <= kMaxDots) svg += dots;
  }

  // The legend, right-aligned in the title's row: a short line in each series' colour.
  double legend_right = kChartWidth - 4;
  for (auto s = chart.series.rbegin(); s != chart.series.rend(); ++s) {
    if (s->label.empty()) continue;
    const double width = text_width(s->label);
    svg += text(legend_right, 15, "end", s->label);
    svg += fmt::format(
        R"(<line x1="{:.1f}" y1="11.5" x2="{:.1f}" y2="11.5" stroke="{}" stroke-width="2"/>)",
        legend_right - width - 18, legend_right - width - 4, s->color);
    legend_right -= width + 26;
  }
  return svg + "</svg>";
}

std::string histogram_svg(const std::vector<double>& counts, double low, double high,
                          const std::string& x_label) {
  const double plot_w = kHistogramWidth - kHistogramLeft - kHistogramRight;
  const double plot_h = kHistogramHeight - kHistogramTop - kHistogramBottom;
  const double bottom = kHistogramTop + plot_h, right = kHistogramLeft + plot_w;
  double most = 0;
  for (const double c : counts) most = std::max(most, c);
  const double top = std::log1p(most);
  // log(1 + count), so that rare values still show beside the many exact zeros.
  const auto py = [&](double count) {
    return bottom - (top > 0 ? std::log1p(count) / top * plot_h : 0.0);
  };

  std::string svg = fmt::format(
      R"(<svg class="histogram" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img" )"
      R"(aria-label="histogram of the {2}, log counts" font-family="system-ui, sans-serif" )"
      R"(font-size="10" fill="{3}">)",
      kHistogramWidth, kHistogramHeight, escape(x_label), kTextColor);
  svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="#f4f4f4"/>)",
                     kHistogramLeft, kHistogramTop, plot_w, plot_h);
  const double bar = counts.empty() ? 0.0 : plot_w / static_cast<double>(counts.size());
  for (size_t b = 0; b < counts.size(); ++b) {
    const double y = py(counts[b]);
    svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"/>)",
                       kHistogramLeft + static_cast<double>(b) * bar + 0.5, y,
                       std::max(bar - 1.0, 0.5), bottom - y, kBarColor);
  }

  // y: 0 and the powers of ten up to the largest count, labelled where there is room.
  svg += line(kHistogramLeft - 3, bottom, kHistogramLeft, bottom, kAxisColor);
  svg += text(kHistogramLeft - 5, bottom + 3.5, "end", "0");
  double last_label = bottom;
  for (double p = 1; p <= most; p *= 10) {
    const double y = py(p);
    svg += line(kHistogramLeft - 3, y, kHistogramLeft, y, kAxisColor);
    if (last_label - y >= kMinLabelGap) {
      svg += text(kHistogramLeft - 5, y + 3.5, "end", count_label(p));
      last_label = y;
    }
  }
  svg +=
      fmt::format(R"svg(<text transform="translate(8 {:.1f}) rotate(-90)" text-anchor="middle" )svg"
                  R"(font-size="9">log count</text>)",
                  kHistogramTop + plot_h / 2);
  svg += line(kHistogramLeft, kHistogramTop, kHistogramLeft, bottom, kAxisColor);

  // x: the range's two ends, and what it is.
  svg += line(kHistogramLeft, bottom, right, bottom, kAxisColor);
  svg += line(right, bottom, right, bottom + 3, kAxisColor);
  svg += text(kHistogramLeft, kHistogramHeight - 3, "start", fmt::format("{:.3g}", low));
  svg += text(right, kHistogramHeight - 3, "end", fmt::format("{:.3g}", high));
  svg += text(kHistogramLeft + plot_w / 2, kHistogramHeight - 3, "middle", x_label);
  return svg + "</svg>";
}

}  // namespace sae
