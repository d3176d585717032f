#pragma once
// The arithmetic behind charts.cpp's pictures, kept apart from PLplot so that it can be tested:
// axis ranges and ticks, where the legend and the point labels go, histogram bins. Internal to
// the plot layer and its tests.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sae/plot/charts.hpp"

namespace sae::plot_layout {

/// The fraction of a range added at each end so that lines and markers keep off the frame.
constexpr double kMargin = 0.04;

/// An interval of world coordinates: the value on a linear axis, its log10 on a log axis.
struct Range {
  double lo = 0.0;  ///< lower end
  double hi = 0.0;  ///< upper end
};

/// The extent of a frame in world coordinates.
struct Window {
  Range x;  ///< left to right
  Range y;  ///< bottom to top
};

/// A polyline in world coordinates, for the legend to avoid.
struct Polyline {
  std::vector<double> x;  ///< as many as y
  std::vector<double> y;  ///< as many as x
};

/// An axis-aligned rectangle.
struct Box {
  double x0 = 0.0;  ///< left
  double x1 = 0.0;  ///< right
  double y0 = 0.0;  ///< bottom
  double y1 = 0.0;  ///< top
};

/// Where `value` lies on `axis` in world coordinates: itself, or log10 of max(value, floor) on a
/// log axis; not finite when it cannot be drawn (NaN, infinite, or <= 0 on a log axis).
double to_world(double value, const Axis& axis);

/// The smallest range holding every finite value of `values`; nullopt when none is finite.
std::optional<Range> extent(const std::vector<double>& values);

/// `r` widened by `margin` of its width at each end; a single value (or a range too narrow to
/// draw) gets at least `min_half` at each end, and 10% of its size or 1 around zero.
Range pad(Range r, double min_half, double margin);

/// A range of log10 values padded out to whole decades, so that a labelled decade shows at each
/// end.
Range decade_range(Range r);

/// The y range of bars whose heights span `heights`: from zero (linear; the bars stand on the
/// frame when none is negative) or out to whole decades (log).
Range bar_range(Range heights, Scale scale);

/// Why PLplot cannot draw into `w` (an empty, infinite or too small span), or nullopt.
std::optional<std::string> window_problem(const Window& w);

/// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `x` (1 for anything up to 1).
double nice_step(double x);

/// How one axis is ticked, in PLplot's terms.
struct Ticks {
  double step = 0.0;           ///< between labelled ticks; 0: PLplot chooses
  int minor = 0;               ///< minor intervals per step; 0: PLplot chooses
  bool log = false;            ///< PLplot's own log axis: a labelled tick at every decade
  bool decade_labels = false;  ///< too many decades for that: linear ticks labelled 10^k
};

/// The ticks for an axis over `r` of `scale`; `integers` keeps linear ticks off fractions.
Ticks axis_ticks(Range r, Scale scale, bool integers);

/// The number of characters, not bytes, of UTF-8 `text`.
std::size_t text_length(std::string_view text);

/// `text` with PLplot's escape character '#' doubled, so that it is drawn as written.
std::string escape(std::string_view text);

/// The corners a legend can take, in the order preferred on a tie.
enum class Corner { kTopRight, kTopLeft, kBottomRight, kBottomLeft };

/// A width and a height.
struct Size {
  double width = 0.0;   ///< left to right
  double height = 0.0;  ///< bottom to top
};

/// A legend's rough size as fractions of the frame's width and height, for entries labelled
/// `labels`.
Size legend_size(const std::vector<std::string>& labels);

/// The corner where a legend of `size` (from legend_size) covers the least of `lines` in `w`.
Corner legend_corner(const Size& size, const std::vector<Polyline>& lines, const Window& w);

/// A point to label, in millimetres from the frame's bottom left corner.
struct Mark {
  double x = 0.0;               ///< right of the frame's left edge
  double y = 0.0;               ///< above the frame's bottom edge
  std::size_t label_chars = 0;  ///< length of its label; 0: no label
};

/// For each of `marks`, the box of its label in the same millimetres (nullopt where it has
/// none): beside its point, inside the `width` x `height` frame and clear of the other points and
/// the labels placed before it wherever that can be, text `char_height` tall.
std::vector<std::optional<Box>> place_labels(const std::vector<Mark>& marks, double width,
                                             double height, double char_height);

/// The count of `values` in each of `bins` equal bins over [lo, hi]: a value at hi counts in the
/// last bin, ones outside the range in the end bins, non-finite ones nowhere. Throws
/// std::invalid_argument unless bins >= 1 and lo < hi span a finite width.
std::vector<double> bin_counts(const std::vector<double>& values, int bins, double lo, double hi);

}  // namespace sae::plot_layout
