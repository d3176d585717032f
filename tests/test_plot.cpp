#include <gtest/gtest.h>
#include <sys/resource.h>

#include "sae/analysis/curves.hpp"
#include "sae/base/atomic_file.hpp"
#include "sae/data/image.hpp"
#include "sae/data/png_check.hpp"
#include "sae/plot/charts.hpp"
#include "sae/plot/image_grid.hpp"
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

TEST(Plot, LinesRefuseWhatTheyCannotDraw) {
  test::TempDir dir;
  EXPECT_THROW(plot_lines(dir / "none.png", kLossSpec, {}), std::runtime_error);
  EXPECT_THROW(plot_lines(dir / "ragged.png", kLossSpec, {{"a", {1, 2}, {1}}}), std::runtime_error);
  EXPECT_THROW(plot_lines(dir / "neg.png", {"t", {"x"}, {"y", Scale::kLog10}}, {{"a", {1}, {-1}}}),
               std::runtime_error);
  // Whole-number ticks mean nothing on a log axis.
  EXPECT_THROW(
      plot_lines(dir / "int.png", {"t", {"x", Scale::kLog10, 0, true}, {"y"}}, loss_curves()),
      std::runtime_error);
  EXPECT_TRUE(files_in(dir.path()).empty());
}

TEST(Plot, LinePanelsSideBySideShareTheirSize) {
  test::TempDir dir;
  const Axis epochs{"epoch", Scale::kLinear, 0, true};
  const LinePanel loss{{"loss", epochs, {"loss"}, 600, 480}, loss_curves()};
  // A panel without a legend: the first one names the colours.
  const LinePanel mse{{"mse", epochs, {"mse"}, 600, 480}, loss_curves(), false};
  plot_line_panels(dir / "loss.png", {loss, mse, mse});
  const std::optional<PngHeader> header = whole_png(read_file(dir / "loss.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 3u * 600u);
  EXPECT_EQ(header->height, 480u);

  LinePanel wider = mse;
  wider.spec.width = 800;
  EXPECT_THROW(plot_line_panels(dir / "x.png", {loss, wider}), std::runtime_error);
  EXPECT_THROW(plot_line_panels(dir / "x.png", {}), std::runtime_error);
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"loss.png"});
}

TEST(Plot, TheLossCurvesHaveAPanelForEachPartOfTheLossThatMetricsCsvHolds) {
  test::TempDir dir;
  std::vector<EpochMetrics> rows(3);
  for (int e = 0; e < 3; ++e) {
    rows[e].epoch = e + 1;
    rows[e].train_mse = 0.2 - 0.05 * e;
    rows[e].train_loss = rows[e].train_mse + 0.01;
    rows[e].test.mse = 0.15 - 0.04 * e;
    rows[e].test.loss = rows[e].test.mse + 0.008;
  }
  const auto width_of = [&](const std::string& name) {
    const std::optional<PngHeader> header = whole_png(read_file(dir / name));
    EXPECT_TRUE(header) << name;
    EXPECT_EQ(header ? header->height : 0u, 480u) << name;
    return header ? header->width : 0u;
  };
  // The loss, the MSE and beta * KL, which the default (sigmoid, KL) code adds.
  plot_loss_curves(dir / "kl.png", rows, RunConfig());
  EXPECT_EQ(width_of("kl.png"), 3u * 600u);
  // Without a penalty the loss is the MSE: nothing to add a panel for.
  RunConfig none;
  none.penalty = Penalty::kNone;
  plot_loss_curves(dir / "none.png", rows, none);
  EXPECT_EQ(width_of("none.png"), 2u * 600u);
  // A metrics.csv from before its MSE columns reads NaN there: those panels go, the loss stays.
  for (EpochMetrics& r : rows) r.train_mse = r.test.mse = kNaN;
  plot_loss_curves(dir / "old.png", rows, RunConfig());
  EXPECT_EQ(width_of("old.png"), 600u);
}

TEST(Plot, BarsWithReferencesOnALogAxis) {
  test::TempDir dir;
  const PlotSpec spec{"rho_hat", {"unit"}, {"rho_hat", Scale::kLog10}};
  plot_bars(dir / "units.png", spec,
            {{0.5, 0.1, 0.01, 0.0, 1e-4}, {{0.01, "rho"}, {0.1, "10 rho: far"}}});
  EXPECT_TRUE(whole_png(read_file(dir / "units.png")));
  plot_bars(dir / "plain.png", {"t", {"i"}, {"v"}}, {{1, -2, 3}});
  EXPECT_TRUE(whole_png(read_file(dir / "plain.png")));

  EXPECT_THROW(plot_bars(dir / "x.png", spec, Bars{}), std::runtime_error);
  EXPECT_THROW(plot_bars(dir / "x.png", spec, {{1}, {{0.0, "zero"}}}), std::runtime_error);
  EXPECT_THROW(plot_bars(dir / "x.png", {"t", {"i", Scale::kLog10}, {"v"}}, {{1}}),
               std::runtime_error);
  EXPECT_THROW(plot_bars(dir / "x.png", spec, {{1, 2}, {}, {true}}), std::runtime_error);
}

TEST(Plot, MarkedBarsAreDrawnInTheirOwnColourOrOnTheFloor) {
  test::TempDir dir;
  const PlotSpec spec{"rho_hat", {"unit"}, {"rho_hat", Scale::kLog10}};
  // Two dead units: one with a height a log axis can draw (a sigmoid's), one at 0 (a ReLU's).
  plot_bars(dir / "marked.png", spec,
            {{0.5, 0.1, 0.01, 0.0}, {{0.01, "rho"}}, {false, false, true, true}, "dead"});
  plot_bars(dir / "plain.png", spec, {{0.5, 0.1, 0.01, 0.0}, {{0.01, "rho"}}});
  const test::DecodedPng marked = test::decode_png(dir / "marked.png");
  const test::DecodedPng plain = test::decode_png(dir / "plain.png");
  ASSERT_GE(marked.channels, 3);
  // Tableau's red: the marked bar, the x on the floor and the legend's sample.
  EXPECT_GT(pixels_near(marked, 214, 39, 40), pixels_near(plain, 214, 39, 40) + 200);
}

TEST(Plot, BarsAllAtZeroOnALogAxisStillShowTheirMarks) {
  test::TempDir dir;
  const PlotSpec spec{"rho_hat", {"unit"}, {"rho_hat", Scale::kLog10}};
  // Every unit of a ReLU code dead, and no reference line to span the axis.
  plot_bars(dir / "dead.png", spec, {{0.0, 0.0, 0.0}, {}, {true, true, true}, "dead"});
  const test::DecodedPng dead = test::decode_png(dir / "dead.png");
  ASSERT_GE(dead.channels, 3);
  EXPECT_GT(pixels_near(dead, 214, 39, 40), 50);  // the x marks on the floor, in red
  // Unmarked, there is nothing to draw: refused, as before.
  EXPECT_THROW(plot_bars(dir / "x.png", spec, {{0.0, 0.0}}), std::runtime_error);
}

TEST(Plot, HistogramPanelsSideBySide) {
  test::TempDir dir;
  Histogram values{{"values", {"h"}, {"count", Scale::kLog10}, 700}, {0.1, 0.1, 0.5, 1.0, 7}, 50};
  values.lines = {{0.5, "active above 0.5"}};
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
  Histogram line_outside = values;
  line_outside.lines = {{2.0, "outside"}};
  EXPECT_THROW(plot_histograms(dir / "x.png", {line_outside}), std::runtime_error);
}

TEST(Plot, AHistogramOnALogAxisBinsDecadesAndLeavesOutWhatItCannotDraw) {
  test::TempDir dir;
  // rho_hat over 64 units spans decades: on a log axis they spread over many bins.
  Histogram density{{"rho_hat", {"rho_hat", Scale::kLog10}, {"units"}, 700}, {}, 32, 1e-4, 1.0};
  for (int j = 0; j < 60; ++j) density.values.push_back(std::pow(10.0, -4.0 + j / 15.0));
  density.values.insert(density.values.end(), {0.0, 0.0, -1.0, kNaN});  // dead units
  density.lines = {{0.01, "rho"}, {0.1, "10 rho"}};
  density.notes = {"2 units with rho_hat = 0 not drawn"};
  plot_histograms(dir / "density.png", {density});
  EXPECT_TRUE(whole_png(read_file(dir / "density.png")));

  // Nothing to count: still drawn when its notes say why.
  Histogram dead = density;
  dead.values = {0.0, 0.0};
  plot_histograms(dir / "dead.png", {dead});
  EXPECT_TRUE(whole_png(read_file(dir / "dead.png")));
  dead.notes.clear();
  EXPECT_THROW(plot_histograms(dir / "x.png", {dead}), std::runtime_error);
  Histogram non_positive = density;
  non_positive.lo = 0.0;
  EXPECT_THROW(plot_histograms(dir / "x.png", {non_positive}), std::runtime_error);
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

// A sweep's frontier: the runs of two kinds of code, FVU against L0, coloured by kind.
const PlotSpec kFrontierSpec{"frontier", {"mean L0", Scale::kLog10}, {"thresholded FVU"}};
Scatter frontier() {
  Scatter s;
  s.colours = {"sigmoid", "topk"};
  s.front = Front::kPerColour;
  s.points = {{0.5, 0.9, 0, 0, "b=0.01"}, {2, 0.6, 0, 0, "b=0.001"}, {3, 0.7, 0, 0, "b=0.005"},
              {8, 0.3, 1, 0, "k=8"},      {16, 0.2, 1, 0, "k=16"},   {32, 0.25, 1, 0, "k=32"}};
  return s;
}

TEST(Plot, AScatterIsAWholePngOfItsPanelsWithEachGroupDrawn) {
  test::TempDir dir;
  plot_scatter(dir / "sweep.png", {{kFrontierSpec, frontier()}});
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"sweep.png"});  // no render left
  const std::optional<PngHeader> header = whole_png(read_file(dir / "sweep.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 800u);
  EXPECT_EQ(header->height, 600u);

  // Beside it, the same runs on another y, higher better, with a baseline: twice as wide.
  Scatter probe = frontier();
  probe.higher_y_is_better = true;
  probe.group_legend = false;
  probe.references = {{0.92, "raw pixels"}};
  for (ScatterPoint& p : probe.points) p.y = 1 - p.y;
  const PlotSpec probe_spec{"probe", {"mean L0", Scale::kLog10}, {"accuracy"}};
  plot_scatter(dir / "two.png", {{kFrontierSpec, frontier()}, {probe_spec, probe}});
  const std::optional<PngHeader> two = whole_png(read_file(dir / "two.png"));
  ASSERT_TRUE(two);
  EXPECT_EQ(two->width, 1600u);
  EXPECT_EQ(two->height, 600u);

  // Each group's colour (Tableau 10's first two) covers more than its legend sample does alone,
  // as when its points cannot go on the log axis (L0 = 0, or a missing FVU).
  Scatter undrawable = frontier();
  for (ScatterPoint& p : undrawable.points) {
    if (p.colour == 0) {
      p.x = 0;
    } else {
      p.y = kNaN;
    }
  }
  undrawable.colours.push_back("relu");
  undrawable.points.push_back({4, 0.5, 2, 0, "b=0.01"});  // something to frame
  plot_scatter(dir / "undrawable.png", {{kFrontierSpec, undrawable}});
  const test::DecodedPng drawn = test::decode_png(dir / "sweep.png");
  const test::DecodedPng legend_only = test::decode_png(dir / "undrawable.png");
  ASSERT_GE(drawn.channels, 3);
  ASSERT_GE(legend_only.channels, 3);
  EXPECT_GT(pixels_near(drawn, 31, 119, 180), pixels_near(legend_only, 31, 119, 180) + 50);
  EXPECT_GT(pixels_near(drawn, 255, 127, 14), pixels_near(legend_only, 255, 127, 14) + 50);
}

TEST(Plot, AScatterColouredByOneSettingAndMarkedByAnotherJoinsOneFront) {
  test::TempDir dir;
  // A sigmoid sweep: colour by beta, marker by rho, one front over all the runs, no labels.
  Scatter s;
  s.colours = {"β = 0.001", "β = 0.005"};
  s.markers = {"ρ = 0.01", "ρ = 0.05", "ρ = 0.1"};
  s.front = Front::kAll;
  for (int b = 0; b < 2; ++b) {
    for (int r = 0; r < 3; ++r) {
      s.points.push_back({0.1 * (r + 1) + b, 1.5 - 0.2 * r - 0.5 * b, b, r, ""});
    }
  }
  s.notes = {"not drawn: 1 run with L0 = 0 (sigmoid)"};
  plot_scatter(dir / "sweep.png", {{kFrontierSpec, s}});
  EXPECT_TRUE(whole_png(read_file(dir / "sweep.png")));

  Scatter unnamed_colour = s;
  unnamed_colour.points.push_back({1, 1, 2, 0, ""});
  EXPECT_THROW(plot_scatter(dir / "x.png", {{kFrontierSpec, unnamed_colour}}), std::runtime_error);
  Scatter unnamed_marker = s;
  unnamed_marker.points.push_back({1, 1, 0, 3, ""});
  EXPECT_THROW(plot_scatter(dir / "x.png", {{kFrontierSpec, unnamed_marker}}), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

TEST(Plot, AScatterWithNothingToDrawIsAnEmptyFrameNotAFakeFloor) {
  test::TempDir dir;
  // L0 = 0 has no place on a log axis: no group has a point to draw, yet the picture (and its
  // legend, whose notes the caller uses to say so) is written.
  Scatter zeros;
  zeros.colours = {"sigmoid"};
  zeros.points = {{0, 1.2, 0, 0, ""}, {0, 1.4, 0, 0, ""}};
  zeros.notes = {"not drawn: 2 runs with L0 = 0 (sigmoid)"};
  plot_scatter(dir / "empty.png", {{kFrontierSpec, zeros}});
  const std::optional<PngHeader> header = whole_png(read_file(dir / "empty.png"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->width, 800u);
  Scatter none;
  none.colours = {"topk"};
  plot_scatter(dir / "none.png", {{kFrontierSpec, none}});
  EXPECT_TRUE(whole_png(read_file(dir / "none.png")));
  // A linear x axis draws 0 where a log one cannot.
  const PlotSpec linear{"t", {"L0"}, {"FVU"}};
  plot_scatter(dir / "linear.png", {{linear, zeros}});
  EXPECT_TRUE(whole_png(read_file(dir / "linear.png")));

  EXPECT_THROW(plot_scatter(dir / "x.png", {}), std::runtime_error);
  EXPECT_THROW(plot_scatter(dir / "x.png", {{kFrontierSpec, Scatter{}}}), std::runtime_error);
  PlotSpec tiny = kFrontierSpec;
  tiny.height = 10;
  EXPECT_THROW(plot_scatter(dir / "x.png", {{tiny, frontier()}}), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

// --- Tile grids ---

// `n` tiles of 3x2 pixels, tile i all of gray 10 * i + 5 but its top left pixel, 0.
std::vector<GrayImage> tiles(int n) {
  std::vector<GrayImage> out;
  for (int i = 0; i < n; ++i) {
    GrayImage t{3, 2, std::vector<uint8_t>(6, static_cast<uint8_t>(10 * i + 5))};
    t.pixels[0] = 0;
    out.push_back(t);
  }
  return out;
}

TEST(PlotLayout, TileGridsKeepTheirTilesApartAndTheirSizeOffTheText) {
  TileGrid grid;
  grid.title = "atoms";
  grid.tiles = tiles(12);
  grid.columns = 6;
  grid.group = 3;
  grid.scale = 4;
  grid.labels = {"0", "1", "2", "3"};  // one per row and group
  const TileGridLayout l = tile_grid_layout(grid);
  EXPECT_EQ(l.tile_width, 12);
  EXPECT_EQ(l.tile_height, 8);
  ASSERT_EQ(l.column_x.size(), 6u);
  ASSERT_EQ(l.row_y.size(), 2u);
  ASSERT_EQ(l.label_right.size(), 2u);
  for (std::size_t c = 1; c < l.column_x.size(); ++c) {
    EXPECT_GT(l.column_x[c], l.column_x[c - 1] + l.tile_width) << c;
  }
  // Groups stand further apart than tiles, each with room for its labels.
  EXPECT_GT(l.column_x[3] - l.column_x[2], l.column_x[2] - l.column_x[1]);
  EXPECT_LT(l.label_right[1], l.column_x[3]);
  EXPECT_GT(l.label_right[1], l.column_x[2] + l.tile_width);
  EXPECT_GT(l.row_y[1], l.row_y[0] + l.tile_height);
  EXPECT_GE(l.width, l.column_x.back() + l.tile_width);
  EXPECT_GE(l.height, l.row_y.back() + l.tile_height);
  EXPECT_EQ(l.caption_height, 0);

  // Captions add a strip under each row; long titles shrink their font, not the picture.
  TileGrid captioned = grid;
  captioned.captions.assign(12, "0.25");
  captioned.title = std::string(500, 'x');
  const TileGridLayout c = tile_grid_layout(captioned);
  EXPECT_GT(c.caption_height, 0);
  EXPECT_EQ(c.width, l.width);
  EXPECT_EQ(c.height, l.height + 2 * c.caption_height);
  EXPECT_LT(c.title_px, l.title_px);

  TileGrid ragged = grid;
  ragged.tiles[3] = GrayImage{2, 2, std::vector<uint8_t>(4, 0)};
  EXPECT_THROW(tile_grid_layout(ragged), std::invalid_argument);
  TileGrid few_labels = grid;
  few_labels.labels.pop_back();
  EXPECT_THROW(tile_grid_layout(few_labels), std::invalid_argument);
  TileGrid few_captions = captioned;
  few_captions.captions.pop_back();
  EXPECT_THROW(tile_grid_layout(few_captions), std::invalid_argument);
  EXPECT_THROW(tile_grid_layout(TileGrid{}), std::invalid_argument);
}

TEST(Plot, ATileGridIsAGrayPngWithItsTilesPixelForPixel) {
  test::TempDir dir;
  TileGrid grid;
  grid.title = "What each unit draws";
  grid.subtitle = "decoded at its typical top activation";
  grid.tiles = tiles(5);
  grid.tiles.push_back(GrayImage{});  // a blank cell ends the second row
  grid.columns = 3;
  grid.scale = 2;
  grid.labels = {"original", "reconstruction"};
  for (int i = 0; i < 6; ++i) grid.captions.push_back(i < 3 ? "" : "0.0123");
  plot_tile_grid(dir / "grid.png", grid);
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"grid.png"});
  const GrayImage png = test::read_gray_png(dir / "grid.png");
  const TileGridLayout l = tile_grid_layout(grid);
  ASSERT_EQ(png.width, l.width);
  ASSERT_EQ(png.height, l.height);
  // Every tile's pixels as they are, scaled: the text stays off them.
  for (int i = 0; i < 5; ++i) {
    const int left = l.column_x[i % 3], top = l.row_y[i / 3];
    int differing = 0;
    for (int y = 0; y < l.tile_height; ++y) {
      for (int x = 0; x < l.tile_width; ++x) {
        const uint8_t want = grid.tiles[i].pixels[(y / 2) * 3 + x / 2];
        differing += png.pixels[(top + y) * png.width + left + x] != want;
      }
    }
    EXPECT_EQ(differing, 0) << "tile " << i;
  }
  // The text is there: dark pixels above the tiles (the title) and left of them (the labels).
  int dark_above = 0, dark_left = 0;
  for (int y = 0; y < l.row_y[0] - 2; ++y) {
    for (int x = 0; x < png.width; ++x) dark_above += png.pixels[y * png.width + x] < 128;
  }
  for (int y = l.row_y[0]; y < l.row_y[0] + l.tile_height; ++y) {
    for (int x = 0; x < l.column_x[0] - 2; ++x) dark_left += png.pixels[y * png.width + x] < 128;
  }
  EXPECT_GT(dark_above, 20);
  EXPECT_GT(dark_left, 10);
  EXPECT_THROW(plot_tile_grid(dir / "x.png", TileGrid{}), std::runtime_error);
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
