#include <gtest/gtest.h>
#include <sys/resource.h>

#include "sae/base/atomic_file.hpp"
#include "sae/data/png_check.hpp"
#include "sae/plot/charts.hpp"
#include "sae/plot/layout.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace sae {
namespace {

using namespace plot_layout;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Ranges come out of a few floating-point operations: equal up to rounding.
::testing::AssertionResult RangeIs(const Range& r, double lo, double hi) {
  if (std::abs(r.lo - lo) < 1e-12 && std::abs(r.hi - hi) < 1e-12) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "range [" << r.lo << ", " << r.hi << "], expected [" << lo << ", " << hi << "]";
}

bool inside(const Box& b, double width, double height) {
  return b.x0 >= 0 && b.x1 <= width && b.y0 >= 0 && b.y1 <= height;
}

bool overlap(const Box& a, const Box& b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// The header of `bytes` if libpng reads them as a whole PNG with nothing after its IEND.
std::optional<PngHeader> whole_png(std::string_view bytes) {
  try {
    const CheckedPng png = check_png(bytes, "plot.png");
    if (png.size == bytes.size()) return png.header;
  } catch (const PngError&) {
  }
  return std::nullopt;
}

// The names of the files in `dir`, to catch temporary files left behind.
std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A loss curve like the one training draws after each epoch.
std::vector<Series> loss_curves() {
  return {{"train loss", {1, 2, 3}, {0.3, 0.2, 0.1}}, {"test loss", {1, 2, 3}, {0.35, 0.25, 0.2}}};
}

const PlotSpec kLossSpec{"loss", {"epoch"}, {"loss"}};

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Caps the size of any file this process writes, as a full disk would, for one scope; writes
// past the cap fail with EFBIG instead of killing the process with SIGXFSZ.
class ScopedFileSizeLimit {
 public:
  explicit ScopedFileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit capped = old_;
    capped.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &capped) == 0;
  }
  ~ScopedFileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  ScopedFileSizeLimit(const ScopedFileSizeLimit&) = delete;
  ScopedFileSizeLimit& operator=(const ScopedFileSizeLimit&) = delete;
  /// Whether the cap is in force.
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

// --- Axes ---

TEST(PlotLayout, ALogAxisDrawsValuesBelowItsFloorAtTheFloor) {
  const Axis floored{"", Scale::kLog10, 1e-3};
  EXPECT_DOUBLE_EQ(to_world(0.0, floored), -3.0);
  EXPECT_DOUBLE_EQ(to_world(-1.0, floored), -3.0);
  EXPECT_DOUBLE_EQ(to_world(1e-5, floored), -3.0);
  EXPECT_DOUBLE_EQ(to_world(100.0, floored), 2.0);
  EXPECT_FALSE(std::isfinite(to_world(kNaN, floored)));
  EXPECT_FALSE(std::isfinite(to_world(-kInf, floored)));  // not drawn at the floor either

  const Axis log{"", Scale::kLog10, 0.0};
  EXPECT_FALSE(std::isfinite(to_world(0.0, log)));
  EXPECT_FALSE(std::isfinite(to_world(-1.0, log)));
  EXPECT_DOUBLE_EQ(to_world(1e-5, log), -5.0);

  const Axis linear{};
  EXPECT_DOUBLE_EQ(to_world(-1.5, linear), -1.5);
  EXPECT_FALSE(std::isfinite(to_world(kInf, linear)));
}

TEST(PlotLayout, ExtentSkipsValuesThatAreNotFinite) {
  const std::optional<Range> r = extent({3, kNaN, -1, kInf, 2, -kInf});
  ASSERT_TRUE(r);
  EXPECT_TRUE(RangeIs(*r, -1, 3));
  EXPECT_FALSE(extent({}));
  EXPECT_FALSE(extent({kNaN, kInf}));
}

TEST(PlotLayout, PadWidensARangeByItsMargin) {
  EXPECT_TRUE(RangeIs(pad({0, 10}, 0.0, 0.04), -0.4, 10.4));
  EXPECT_TRUE(RangeIs(pad({0, 10}, 0.0, 0.08), -0.8, 10.8));
  EXPECT_TRUE(RangeIs(pad({-3, -1}, 5.0, 0.5), -4, 0));  // min_half is for single values only
}

TEST(PlotLayout, ASingleValueStillGetsARange) {
  EXPECT_TRUE(RangeIs(pad({5, 5}, 1.0, 0.04), 4, 6));      // one epoch: +-1
  EXPECT_TRUE(RangeIs(pad({5, 5}, 0.0, 0.04), 4.5, 5.5));  // 10% of the value
  EXPECT_TRUE(RangeIs(pad({-20, -20}, 0.0, 0.04), -22, -18));
  EXPECT_TRUE(RangeIs(pad({0, 0}, 0.0, 0.04), -1, 1));
  EXPECT_TRUE(RangeIs(pad({0.3, 0.3}, 1.0, 0.04), -0.7, 1.3));
  const Range tiny = pad({1e-300, 1e-300}, 0.0, 0.04);
  EXPECT_LT(tiny.lo, tiny.hi);
}

TEST(PlotLayout, ALogRangeReachesWholeDecades) {
  EXPECT_TRUE(RangeIs(decade_range({-2.3, -0.7}), -3, 0));
  // Values on a decade still get the next decade out: a labelled tick at each end.
  EXPECT_TRUE(RangeIs(decade_range({-2, 0}), -3, 1));
  EXPECT_TRUE(RangeIs(decade_range({-2, -2}), -3, -1));
  EXPECT_TRUE(RangeIs(decade_range({0, 0}), -1, 1));
}

TEST(PlotLayout, BarsStandOnZeroOrOnTheFramesBottom) {
  EXPECT_TRUE(RangeIs(bar_range({1, 3}, Scale::kLinear), 0, 3.12));
  EXPECT_TRUE(RangeIs(bar_range({-2, 3}, Scale::kLinear), -2.2, 3.2));
  EXPECT_TRUE(RangeIs(bar_range({-3, -1}, Scale::kLinear), -3.12, 0.12));
  EXPECT_TRUE(RangeIs(bar_range({-4, -0.5}, Scale::kLog10), -5, 0));
}

TEST(PlotLayout, WindowsPlplotCannotDrawAreRefused) {
  EXPECT_FALSE(window_problem({{0, 1}, {0, 1}}));
  EXPECT_EQ(window_problem({{0, 0}, {0, 1}}), "values too close to zero to plot");
  EXPECT_EQ(window_problem({{0, 1}, {0, 1e-300}}), "values too close to zero to plot");
  EXPECT_EQ(window_problem({{-1e308, 1e308}, {0, 1}}), "values too large to plot");
}

TEST(PlotLayout, NiceStepRoundsUpTo125) {
  EXPECT_EQ(nice_step(0.5), 1);
  EXPECT_EQ(nice_step(1), 1);
  EXPECT_EQ(nice_step(1.5), 2);
  EXPECT_EQ(nice_step(2.5), 5);
  EXPECT_EQ(nice_step(7), 10);
  EXPECT_EQ(nice_step(11), 20);
  EXPECT_EQ(nice_step(kNaN), 1);
}

TEST(PlotLayout, TicksOfLinearAxes) {
  const Ticks units = axis_ticks({-0.5, 11.5}, Scale::kLinear, /*integers=*/true);
  EXPECT_EQ(units.step, 1);
  EXPECT_EQ(units.minor, 1);
  EXPECT_FALSE(units.log || units.decade_labels);
  // Wide integer ranges and fractional ones: PLplot's own choice.
  EXPECT_EQ(axis_ticks({-0.5, 63.5}, Scale::kLinear, true).step, 0);
  EXPECT_EQ(axis_ticks({0, 5}, Scale::kLinear, false).step, 0);
}

TEST(PlotLayout, ALogAxisLabelsEveryDecadeUntilTheyWouldCrowd) {
  const Ticks few = axis_ticks({-5, 1}, Scale::kLog10, false);
  EXPECT_TRUE(few.log);
  EXPECT_FALSE(few.decade_labels);
  EXPECT_EQ(few.step, 1);

  const Ticks many = axis_ticks({-21, 4}, Scale::kLog10, false);  // 25 decades: every 5th
  EXPECT_FALSE(many.log);
  EXPECT_TRUE(many.decade_labels);
  EXPECT_EQ(many.step, 5);
  EXPECT_EQ(many.minor, 5);  // a minor tick per decade

  const Ticks lots = axis_ticks({-300, 300}, Scale::kLog10, false);
  EXPECT_EQ(lots.step, 100);
  EXPECT_EQ(lots.minor, 0);  // 100 minor ticks per step would be a smear
}

// --- Text ---

TEST(PlotLayout, TextLengthCountsCharactersNotBytes) {
  EXPECT_EQ(text_length("rho = 0.01"), 10u);
  EXPECT_EQ(text_length("\xcf\x81 = 0.01"), 8u);  // "ρ = 0.01"
  EXPECT_EQ(text_length(""), 0u);
}

TEST(PlotLayout, EscapeKeepsHashesLiteral) {
  EXPECT_EQ(escape("run #3"), "run ##3");
  EXPECT_EQ(escape("##"), "####");
  EXPECT_EQ(escape("plain"), "plain");
}

// --- Legend ---

TEST(PlotLayout, LegendSizeGrowsWithTheLongestLabelAndTheEntries) {
  const Size one = legend_size({"ab"});
  const Size two = legend_size({"train loss", "test loss"});
  EXPECT_DOUBLE_EQ(one.width, 0.18 + 0.014 * 2);
  EXPECT_DOUBLE_EQ(one.height, 0.04 + 0.045);
  EXPECT_DOUBLE_EQ(two.width, 0.18 + 0.014 * 10);
  EXPECT_DOUBLE_EQ(two.height, 0.04 + 0.045 * 2);
}

TEST(PlotLayout, TheLegendGoesWhereItHidesTheLeast) {
  const Window w{{0, 10}, {0, 1}};
  const Size size{0.3, 0.2};
  EXPECT_EQ(legend_corner(size, {}, w), Corner::kTopRight);
  // A falling loss curve leaves the top right free.
  EXPECT_EQ(legend_corner(size, {{{0, 10}, {0.95, 0.05}}}, w), Corner::kTopRight);
  // A rising one fills it: top left, the next free corner.
  EXPECT_EQ(legend_corner(size, {{{0, 10}, {0.05, 0.95}}}, w), Corner::kTopLeft);
  // A line along the top: the bottom, right before left.
  EXPECT_EQ(legend_corner(size, {{{0, 10}, {0.9, 0.9}}}, w), Corner::kBottomRight);
  // Along the top and down the right side: bottom left.
  EXPECT_EQ(legend_corner(size, {{{0, 10}, {0.9, 0.9}}, {{9.5, 9.5}, {0, 1}}}, w),
            Corner::kBottomLeft);
}

// --- Labels ---

constexpr double kFrameW = 150, kFrameH = 100, kCharH = 2.5;  // millimetres

TEST(PlotLayout, ALabelGoesRightOfItsPointWhenThereIsRoom) {
  const auto boxes = place_labels({{50, 50, 6}}, kFrameW, kFrameH, kCharH);
  ASSERT_EQ(boxes.size(), 1u);
  ASSERT_TRUE(boxes[0]);
  EXPECT_GT(boxes[0]->x0, 50 + 0.6 * kCharH);  // clear of the marker
  EXPECT_LT(boxes[0]->x0, 50 + 2 * kCharH);    // but beside it
  EXPECT_DOUBLE_EQ(0.5 * (boxes[0]->y0 + boxes[0]->y1), 50);
}

TEST(PlotLayout, LabelsStayInsideTheFrame) {
  const std::vector<Mark> edges = {
      {kFrameW - 1, 50, 12},  {1, 50, 12}, {75, kFrameH - 0.5, 12}, {75, 0.5, 12},
      {kFrameW, kFrameH, 12}, {0, 0, 12},  {kFrameW - 3, 2, 12},    {2, kFrameH - 1, 12},
  };
  for (const Mark& m : edges) {
    const auto boxes = place_labels({m}, kFrameW, kFrameH, kCharH);
    ASSERT_TRUE(boxes[0]);
    EXPECT_TRUE(inside(*boxes[0], kFrameW, kFrameH)) << "point at " << m.x << ", " << m.y;
  }
}

TEST(PlotLayout, LabelsOfClosePointsKeepApart) {
  // Three points a millimetre apart, as a sweep's runs with nearly equal results are.
  const std::vector<Mark> marks = {{60, 50, 12}, {61, 51, 12}, {60, 52, 12}};
  const auto boxes = place_labels(marks, kFrameW, kFrameH, kCharH);
  ASSERT_EQ(boxes.size(), 3u);
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    ASSERT_TRUE(boxes[i]);
    EXPECT_TRUE(inside(*boxes[i], kFrameW, kFrameH));
    for (std::size_t j = 0; j < boxes.size(); ++j) {
      const double r = 0.6 * kCharH;
      const Box marker{marks[j].x - r, marks[j].x + r, marks[j].y - r, marks[j].y + r};
      EXPECT_FALSE(overlap(*boxes[i], marker)) << "label " << i << " hides point " << j;
      if (j != i) {
        EXPECT_FALSE(overlap(*boxes[i], *boxes[j])) << "labels " << i << ", " << j;
      }
    }
  }
}

TEST(PlotLayout, UnlabelledPointsGetNoLabelButAreStillAvoided) {
  // The unlabelled point sits where the first label would go, on its right.
  const auto boxes = place_labels({{50, 50, 6}, {55, 50, 0}}, kFrameW, kFrameH, kCharH);
  ASSERT_EQ(boxes.size(), 2u);
  ASSERT_TRUE(boxes[0]);
  EXPECT_FALSE(boxes[1]);
  const double r = 0.6 * kCharH;
  EXPECT_FALSE(overlap(*boxes[0], {55 - r, 55 + r, 50 - r, 50 + r}));
}

// --- Histograms ---

TEST(PlotLayout, BinsCountValuesInHalfOpenBinsWithHiInTheLast) {
  EXPECT_EQ(bin_counts({0.0, 0.25, 0.5, 0.99, 1.0}, 4, 0, 1), (std::vector<double>{1, 1, 1, 2}));
  EXPECT_EQ(bin_counts({0.2499}, 4, 0, 1), (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ(bin_counts({}, 3, 0, 1), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(bin_counts({5, 7}, 1, 5, 6), (std::vector<double>{2}));
}

TEST(PlotLayout, BinsClampValuesOutsideTheRangeAndSkipOnesNotFinite) {
  EXPECT_EQ(bin_counts({-5, 7, 1e300, -1e300, kNaN, kInf, -kInf}, 4, 0, 1),
            (std::vector<double>{2, 0, 0, 2}));
}

TEST(PlotLayout, BinsRefuseRangesTheyCannotSplit) {
  EXPECT_THROW(bin_counts({1}, 0, 0, 1), std::invalid_argument);
  EXPECT_THROW(bin_counts({1}, 4, 1, 1), std::invalid_argument);
  EXPECT_THROW(bin_counts({1}, 4, 1, 0), std::invalid_argument);
  EXPECT_THROW(bin_counts({1}, 4, -1e308, 1e308), std::invalid_argument);
  EXPECT_THROW(bin_counts({1}, 4, kNaN, 1), std::invalid_argument);
}

// --- Whole PNGs ---

TEST(Plot, ATruncatedPlotIsNotAWholePng) {
  test::TempDir dir;
  plot_lines(dir / "loss.png", kLossSpec, loss_curves());
  const std::string png = read_file(dir / "loss.png");
  ASSERT_TRUE(whole_png(png));
  // Cut as a full disk would: 4096 bytes is where the reported loss.png stopped. libpng decodes
  // up to each cut, so the signature, the header and the end are cut at every byte, the rest at
  // a stride.
  std::vector<std::size_t> sizes = {4095, 4096, 4097};
  for (std::size_t size = 0; size < 64; ++size) sizes.push_back(size);
  for (std::size_t size = 64; size < png.size();
       size += std::max<std::size_t>(1, png.size() / 32)) {
    sizes.push_back(size);
  }
  for (std::size_t size = png.size() - std::min<std::size_t>(8, png.size()); size < png.size();
       ++size) {
    sizes.push_back(size);
  }
  for (const std::size_t size : sizes) {
    if (size >= png.size()) continue;
    ASSERT_FALSE(whole_png(std::string_view(png).substr(0, size))) << size << " bytes";
  }
  EXPECT_FALSE(whole_png(png + "x"));
}

// --- Pictures, end to end ---

TEST(Plot, LinesWriteAWholePngAndNothingElse) {
  test::TempDir dir;
  plot_lines(dir / "loss.png", {"loss", {"epoch"}, {"loss", Scale::kLog10}}, loss_curves());
  const std::optional<PngHeader> header = whole_png(read_file(dir / "loss.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 800u);  // the spec's default size
  EXPECT_EQ(header->height, 600u);
  // A single epoch still makes a plot.
  plot_lines(dir / "one.png", kLossSpec, {{"train", {1}, {0.3}}});
  EXPECT_TRUE(whole_png(read_file(dir / "one.png")));
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"loss.png", "one.png"}));
}

TEST(Plot, LinesRefuseWhatTheyCannotDraw) {
  test::TempDir dir;
  EXPECT_THROW(plot_lines(dir / "none.png", kLossSpec, {}), std::runtime_error);
  EXPECT_THROW(plot_lines(dir / "ragged.png", kLossSpec, {{"a", {1, 2}, {1}}}), std::runtime_error);
  EXPECT_THROW(plot_lines(dir / "neg.png", {"t", {"x"}, {"y", Scale::kLog10}}, {{"a", {1}, {-1}}}),
               std::runtime_error);
  EXPECT_TRUE(files_in(dir.path()).empty());
}

TEST(Plot, BarsWithAReferenceOnALogAxis) {
  test::TempDir dir;
  const PlotSpec spec{"rho_hat", {"unit"}, {"rho_hat", Scale::kLog10}};
  plot_bars(dir / "units.png", spec, {{0.5, 0.1, 0.01, 0.0, 1e-4}, ReferenceLine{0.01, "rho"}});
  EXPECT_TRUE(whole_png(read_file(dir / "units.png")));
  plot_bars(dir / "plain.png", {"t", {"i"}, {"v"}}, {{1, -2, 3}, std::nullopt});
  EXPECT_TRUE(whole_png(read_file(dir / "plain.png")));

  EXPECT_THROW(plot_bars(dir / "x.png", spec, {{}, std::nullopt}), std::runtime_error);
  EXPECT_THROW(plot_bars(dir / "x.png", spec, {{1}, ReferenceLine{0.0, "zero"}}),
               std::runtime_error);
  EXPECT_THROW(plot_bars(dir / "x.png", {"t", {"i", Scale::kLog10}, {"v"}}, {{1}, std::nullopt}),
               std::runtime_error);
}

TEST(Plot, HistogramPanelsSideBySide) {
  test::TempDir dir;
  Histogram values{{"values", {"h"}, {"count", Scale::kLog10}, 700}, {0.1, 0.1, 0.5, 1.0, 7}, 50};
  Histogram units{{"units", {"rho_hat"}, {"count"}, 700}, {0.01, 0.02, 0.9}, 50};
  plot_histograms(dir / "activations.png", {values, units});
  const std::optional<PngHeader> header = whole_png(read_file(dir / "activations.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 1400u);
  EXPECT_EQ(header->height, 600u);

  EXPECT_THROW(plot_histograms(dir / "x.png", {}), std::runtime_error);
  Histogram wider = units;
  wider.spec.width = 800;
  EXPECT_THROW(plot_histograms(dir / "x.png", {values, wider}), std::runtime_error);
  Histogram empty = units;
  empty.values = {kNaN};
  EXPECT_THROW(plot_histograms(dir / "x.png", {empty}), std::runtime_error);
  Histogram no_bins = units;
  no_bins.bins = 0;
  EXPECT_THROW(plot_histograms(dir / "x.png", {no_bins}), std::runtime_error);
}

TEST(Plot, LabelledPointsOnALogAxisWithAFloor) {
  test::TempDir dir;
  // Zero and negative x sit at the floor instead of breaking the log axis.
  const PlotSpec spec{"t", {"mean L0", Scale::kLog10, 1e-3}, {"mse"}};
  plot_labelled_points(dir / "sweep.png", spec,
                       {{0.0, 0.02, "a"}, {0.5, 0.015, "b"}, {64, 0.07, "c"}, {-1, 0.01, "d"}});
  EXPECT_TRUE(whole_png(read_file(dir / "sweep.png")));
  EXPECT_THROW(plot_labelled_points(dir / "none.png", spec, {}), std::runtime_error);
  EXPECT_THROW(plot_labelled_points(dir / "nan.png", spec, {{kNaN, 1, "a"}}), std::runtime_error);
}

TEST(Plot, ParetoPointsAreThoseNoOtherPointBeatsOnBothAxes) {
  // (2, 0.6) is beaten by (2, 0.4), (4, 0.4) by (2, 0.4) too; equal points beat neither.
  const std::vector<LabelledPoint> points = {{1, 0.5, "a"},    {2, 0.4, "b"},   {2, 0.6, "c"},
                                             {4, 0.4, "d"},    {8, 0.1, "e"},   {8, 0.1, "f"},
                                             {kNaN, 0.0, "g"}, {16, kInf, "h"}, {0.5, 0.9, "i"}};
  EXPECT_EQ(pareto_optimal(points),
            (std::vector<bool>{true, true, false, false, true, true, false, false, true}));
  EXPECT_TRUE(pareto_optimal({}).empty());
  EXPECT_EQ(pareto_optimal({{3, 3, ""}}), std::vector<bool>{true});
}

/// The number of pixels of `png` (RGB) near the colour (r, g, b): antialiasing blends the edges of
/// what is drawn with the background.
int64_t pixels_near(const test::DecodedPng& png, int r, int g, int b) {
  constexpr int kTolerance = 60;  // summed over the channels
  int64_t count = 0;
  const auto step = static_cast<size_t>(png.channels);
  for (size_t i = 0; i + 2 < png.samples.size(); i += step) {
    count += std::abs(png.samples[i] - r) + std::abs(png.samples[i + 1] - g) +
                 std::abs(png.samples[i + 2] - b) <=
             kTolerance;
  }
  return count;
}

// A sweep's frontier: the runs of two kinds of code, FVU against L0.
const PlotSpec kFrontierSpec{"frontier", {"mean L0", Scale::kLog10}, {"thresholded FVU"}};
std::vector<FrontierCurve> frontier_curves() {
  return {{"sigmoid", {{0.5, 0.9, "b=0.01"}, {2, 0.6, "b=0.001"}, {3, 0.7, "b=0.005"}}},
          {"topk", {{8, 0.3, "k=8"}, {16, 0.2, "k=16"}, {32, 0.25, "k=32"}}}};
}

TEST(Plot, AFrontierIsAWholePngOfItsSizeWithEachCurveDrawn) {
  test::TempDir dir;
  plot_frontier(dir / "sweep.png", kFrontierSpec, frontier_curves());
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"sweep.png"});  // no render left
  const std::optional<PngHeader> header = whole_png(read_file(dir / "sweep.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 800u);
  EXPECT_EQ(header->height, 600u);
  PlotSpec small = kFrontierSpec;
  small.width = 640;
  small.height = 480;
  plot_frontier(dir / "small.png", small, frontier_curves());
  const std::optional<PngHeader> small_header = whole_png(read_file(dir / "small.png"));
  ASSERT_TRUE(small_header);
  EXPECT_EQ(small_header->width, 640u);
  EXPECT_EQ(small_header->height, 480u);

  // Each curve's colour (Tableau 10's first two) covers more than its legend sample does alone,
  // as when its points cannot go on the log axis (L0 = 0, or a missing FVU).
  std::vector<FrontierCurve> undrawable = frontier_curves();
  for (LabelledPoint& p : undrawable[0].points) p.x = 0;
  for (LabelledPoint& p : undrawable[1].points) p.y = kNaN;
  undrawable.push_back({"relu", {{4, 0.5, "b=0.01"}}});  // something to frame
  plot_frontier(dir / "undrawable.png", kFrontierSpec, undrawable);
  const test::DecodedPng drawn = test::decode_png(dir / "sweep.png");
  const test::DecodedPng legend_only = test::decode_png(dir / "undrawable.png");
  ASSERT_GE(drawn.channels, 3);
  ASSERT_GE(legend_only.channels, 3);
  EXPECT_GT(pixels_near(drawn, 31, 119, 180), pixels_near(legend_only, 31, 119, 180) + 50);
  EXPECT_GT(pixels_near(drawn, 255, 127, 14), pixels_near(legend_only, 255, 127, 14) + 50);
}

TEST(Plot, AFrontierWithNothingToDrawIsAnEmptyFrameNotAFakeFloor) {
  test::TempDir dir;
  // L0 = 0 has no place on a log axis: no curve has a point to draw, yet the picture (and its
  // legend, which the caller uses to say so) is written.
  plot_frontier(dir / "empty.png", kFrontierSpec,
                {{"sigmoid (2 of 2 runs not shown: 2 with L0 = 0)", {{0, 1.2, ""}, {0, 1.4, ""}}}});
  const std::optional<PngHeader> header = whole_png(read_file(dir / "empty.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 800u);
  plot_frontier(dir / "none.png", kFrontierSpec, {{"topk", {}}});
  EXPECT_TRUE(whole_png(read_file(dir / "none.png")));
  // A linear x axis draws 0 where a log one cannot.
  plot_frontier(dir / "linear.png", {"t", {"L0"}, {"FVU"}}, {{"sigmoid", {{0, 1.2, ""}}}});
  EXPECT_TRUE(whole_png(read_file(dir / "linear.png")));

  EXPECT_THROW(plot_frontier(dir / "x.png", kFrontierSpec, {}), std::runtime_error);
  PlotSpec tiny = kFrontierSpec;
  tiny.height = 10;
  EXPECT_THROW(plot_frontier(dir / "x.png", tiny, frontier_curves()), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

TEST(Plot, SpecsPlplotCannotHonourAreRefused) {
  test::TempDir dir;
  const std::vector<Series> lines = loss_curves();
  PlotSpec tiny = kLossSpec;
  tiny.width = 10;
  EXPECT_THROW(plot_lines(dir / "x.png", tiny, lines), std::runtime_error);
  // A floor means nothing on a linear axis, and must be a usable positive number on a log one.
  EXPECT_THROW(plot_lines(dir / "x.png", {"t", {"x", Scale::kLinear, 1}, {"y"}}, lines),
               std::runtime_error);
  EXPECT_THROW(plot_lines(dir / "x.png", {"t", {"x", Scale::kLog10, -1}, {"y"}}, lines),
               std::runtime_error);
  EXPECT_THROW(plot_lines(dir / "x.png", {"t", {"x"}, {"y", Scale::kLog10, kInf}}, lines),
               std::runtime_error);
  EXPECT_TRUE(files_in(dir.path()).empty());
}

// --- Failed writes ---

TEST(Plot, ACutOffRenderKeepsThePreviousPicture) {
  test::TempDir dir, tmp;
  const std::string path = dir / "loss.png";
  write_file_atomically(path, "previous picture");
  const ScopedEnv env("TMPDIR", tmp.path().string());
  try {
    // PLplot ignores the failed write and leaves 4096 bytes, as on the reported full disk.
    const ScopedFileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    plot_lines(path, kLossSpec, loss_curves());
    ADD_FAILURE() << "a cut-off picture was published";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("cannot write " + path + ": ", 0), 0u) << message;
    EXPECT_NE(message.find("could not be rendered completely"), std::string::npos) << message;
    // libpng names what is wrong with what PLplot left.
    EXPECT_NE(message.find("not a whole PNG: the file ends after 4096 bytes"), std::string::npos)
        << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_EQ(read_file(path), "previous picture");
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"loss.png"});
  EXPECT_TRUE(files_in(tmp.path()).empty());  // the render folder is gone too
}

TEST(Plot, NoFolderToRenderInIsAnErrorNamingThePicture) {
  test::TempDir dir;
  const std::string path = dir / "loss.png";
  write_file_atomically(path, "previous picture");
  const ScopedEnv env("TMPDIR", dir / "missing");
  try {
    plot_lines(path, kLossSpec, loss_curves());
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot write " + path + ": ", 0), 0u) << e.what();
  }
  EXPECT_EQ(read_file(path), "previous picture");
}

TEST(Plot, AnUnwritableDestinationIsAnErrorAndLeavesNoRenderFolder) {
  test::TempDir dir, tmp;
  const ScopedEnv env("TMPDIR", tmp.path().string());
  const std::string path = (dir.path() / "missing" / "loss.png").string();
  try {
    plot_lines(path, kLossSpec, loss_curves());
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot write " + path + ": ", 0), 0u) << e.what();
  }
  EXPECT_TRUE(files_in(tmp.path()).empty());
}

}  // namespace
}  // namespace sae
