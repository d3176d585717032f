// The HTML reports, opened in a real browser (headless Chromium, which the test command
// installs): the page renders, every image loads, the 64 unit cards are there, sorting changes
// their order, and the console stays silent. Skipped, with the reason, where no Chromium is found.
// And, without a browser: a report never writes outside its run or sweep folder, whatever
// sweep.csv says and wherever a symlink points; a run's page shows its probe, its time, its
// per-epoch charts (one line per series, a point per epoch) and, only when the explained variance
// is <= 0, a warning.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sae/report/pages.hpp"
#include "sae/report/svg.hpp"
#include "sae/train/run_config.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>

namespace sae {
namespace {

namespace fs = std::filesystem;

/// The headless browser on PATH, or "".
std::string browser() {
  for (const char* name : {"chromium-headless-shell", "chromium", "chromium-browser"}) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/"}) {
      if (fs::exists(std::string(dir) + name)) return std::string(dir) + name;
    }
  }
  return "";
}

#define SKIP_WITHOUT_BROWSER()                                                     \
  if (browser().empty()) {                                                         \
    GTEST_SKIP() << "no Chromium found (apt-get install chromium-headless-shell; " \
                    "scripts/install-deps.sh does)";                               \
  }

/// What the browser made of a page: the DOM after its scripts ran, and what it logged.
struct Rendered {
  std::string dom;
  std::string log;
};

/// Opens `url` headless, lets it load (virtual time), and returns the DOM; a screenshot too when
/// `screenshot` is given.
Rendered open_in_browser(const std::string& url, const std::string& screenshot = "") {
  test::TempDir scratch;
  const std::string flags =
      "--no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 "
      "--virtual-time-budget=10000 --window-size=1280,1600 --user-data-dir=" +
      scratch.path().string();
  const std::string dom_path = scratch / "dom.html", log_path = scratch / "log.txt";
  std::string command =
      browser() + " " + flags + " --dump-dom '" + url + "' > " + dom_path + " 2> " + log_path;
  EXPECT_EQ(std::system(command.c_str()), 0) << test::read_text(log_path);
  if (!screenshot.empty()) {
    command =
        browser() + " " + flags + " --screenshot=" + screenshot + " '" + url + "' > /dev/null 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0);
  }
  return {test::read_text(dom_path), test::read_text(log_path)};
}

/// Every match of the regex's first group in `text`, in order.
std::vector<std::string> all(const std::string& text, const std::string& pattern) {
  std::vector<std::string> out;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

/// The page loaded every image it has and logged nothing to its console.
void expect_clean_page(const Rendered& page, const std::string& what) {
  const auto loaded = all(page.dom, R"(data-images-loaded="(\d+/\d+)\")");
  ASSERT_EQ(loaded.size(), 1u) << what << ": the page's script did not run";
  const auto slash = loaded[0].find('/');
  EXPECT_EQ(loaded[0].substr(0, slash), loaded[0].substr(slash + 1)) << what << ": images loaded";
  EXPECT_NE(loaded[0], "0/0") << what;
  EXPECT_EQ(page.log.find(":CONSOLE"), std::string::npos) << what << ": console output\n"
                                                          << page.log;
}

TEST(Report, ARunsPageShowsEveryUnitAndSortsThem) {
  SKIP_WITHOUT_BROWSER();
  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  ASSERT_TRUE(fs::exists(fs::path(run) / "report.html"));  // sae train writes it
  test::TempDir dir;
  const std::string url = "file://" + fs::absolute(run).string() + "/report.html";
  const Rendered by_unit = open_in_browser(url, dir / "report.png");
  expect_clean_page(by_unit, "report.html");
  const auto units = all(by_unit.dom, R"(class="unit" data-unit="(\d+)\")");
  ASSERT_EQ(units.size(), 64u);
  EXPECT_EQ(units.front(), "0");
  EXPECT_EQ(units.back(), "63");
  EXPECT_NE(by_unit.dom.find("Final test metrics"), std::string::npos);
  EXPECT_EQ(test::read_text(dir / "report.png").substr(0, 8), "\x89PNG\r\n\x1a\n");

  // Sorted by KL: another order, and KL falls from card to card.
  const Rendered by_kl = open_in_browser(url + "#sort=kl");
  expect_clean_page(by_kl, "report.html#sort=kl");
  EXPECT_NE(by_kl.dom.find(R"(data-sorted-by="kl")"), std::string::npos);
  EXPECT_NE(all(by_kl.dom, R"(class="unit" data-unit="(\d+)\")"), units);
  const auto kls =
      all(by_kl.dom, R"(class="unit" data-unit="\d+" data-rho="[^"]*" data-kl="([^"]*)\")");
  ASSERT_EQ(kls.size(), 64u);
  for (size_t i = 1; i < kls.size(); ++i) EXPECT_GE(std::stod(kls[i - 1]), std::stod(kls[i]));
}

TEST(Report, ASweepsIndexLinksEveryRunAndSortsItsTable) {
  SKIP_WITHOUT_BROWSER();
  test::TempDir dir;
  const auto sweep = test::run_sae({"sweep", "--beta", "0,0.05", "--rho", "0.05", "--epochs", "1",
                                    "--data-dir", test::shared_data(300, 100), "--out",
                                    dir / "sweep", "--threads", "1", "--quiet"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const std::string url = "file://" + fs::absolute(dir / "sweep").string() + "/index.html";
  const Rendered page = open_in_browser(url + "#sort=5");  // by test_mse
  expect_clean_page(page, "index.html");
  const auto links = all(page.dom, R"(<a href="([^"]+)\")");
  ASSERT_EQ(links.size(), 2u);
  for (const auto& link : links) EXPECT_TRUE(fs::exists(fs::path(dir / "sweep") / link)) << link;
  const auto mses =
      all(page.dom, R"(<tr class="run">(?:<td[^>]*>[^<]*</td>){5}<td data-value="([^"]*)\")");
  ASSERT_EQ(mses.size(), 2u);
  EXPECT_LE(std::stod(mses[0]), std::stod(mses[1]));

  // `sae report` writes the index again, and a run's page for a run that lacks one.
  fs::remove(fs::path(dir / "sweep") / links[0]);
  const auto again = test::run_sae({"report", dir / "sweep", "--threads", "1", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(fs::exists(fs::path(dir / "sweep") / links[0]));
}

/// The run the browser test opens too (one epoch on 300 synthetic images), trained once.
std::string trained_run() {
  return test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
}

/// The maximum of a JSON list of numbers.
double max_of(const nlohmann::json& list) {
  double top = 0;
  for (const auto& v : list) top = std::max(top, v.get<double>());
  return top;
}

TEST(Report, ARunsPageNamesItsCodeAndPutsTheProbeBesideTheRawPixels) {
  const std::string run = trained_run();
  const std::string page = test::read_text(run + "/report.html");
  EXPECT_NE(page.find("code sigmoid, penalty kl, beta 0.005, rho 0.01"), std::string::npos);
  EXPECT_NE(page.find("on the raw pixels"), std::string::npos);
  EXPECT_NE(page.find(R"(data-key="kl")"), std::string::npos);  // KL against rho: a sigmoid's
  EXPECT_NE(page.find("log counts, 0 to 1)"), std::string::npos);
  EXPECT_NE(page.find("(above 0.5)"), std::string::npos);
  const auto summary = nlohmann::json::parse(test::read_text(run + "/summary.json"));
  const double pixels = summary.at("pixel_probe_accuracy").get<double>();
  EXPECT_TRUE(pixels >= 0.0 && pixels <= 1.0) << pixels;
  const int64_t dead = summary.at("train_dead_units").get<int64_t>();
  EXPECT_TRUE(dead >= 0 && dead <= 64) << dead;
}

TEST(Report, ATopKRunsCardsCountActivityAboveZeroAndSpanItsLargestActivation) {
  const std::string run =
      test::shared_run({"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads",
                        "1", "--code", "topk", "--k", "8"});
  const std::string page = test::read_text(run + "/report.html");
  EXPECT_NE(page.find("code topk, k 8"), std::string::npos);
  EXPECT_EQ(page.find("penalty kl"), std::string::npos);
  EXPECT_EQ(page.find(R"(data-key="kl")"), std::string::npos);  // no rho to hold KL against
  EXPECT_NE(page.find("(above 0)"), std::string::npos);
  EXPECT_NE(page.find("active for topk codes"), std::string::npos);
  // relu makes activations unbounded: the histograms span the largest, not (0, 1).
  const auto summary = nlohmann::json::parse(test::read_text(run + "/summary.json"));
  const double top = max_of(summary.at("test").at("max_activation"));
  ASSERT_GT(top, 0.0);
  EXPECT_NE(page.find(fmt::format("log counts, 0 to {:.3g})", top)), std::string::npos) << top;
  EXPECT_LE(summary.at("test").at("mean_l0").get<double>(), 8.0);
  EXPECT_EQ(summary.at("test").at("thresholded_mse").get<double>(),
            summary.at("test").at("mse").get<double>());
}

/// The points of each <polyline> in `svg`, in order: how many each has.
std::vector<size_t> polyline_points(const std::string& svg) {
  std::vector<size_t> counts;
  for (const std::string& points : all(svg, R"(<polyline[^>]* points="([^"]*)\")")) {
    counts.push_back(all(points, R"((-?[\d.]+,-?[\d.]+))").size());
  }
  return counts;
}

TEST(Report, ARunsPageShowsItsProbeTimeAndOneChartPointPerEpoch) {
  const std::string run = trained_run();
  const std::string page = test::read_text(run + "/report.html");
  const auto summary = nlohmann::json::parse(test::read_text(run + "/summary.json"));

  // The probe: the code's test accuracy and the raw pixels', in their own section.
  EXPECT_NE(page.find("<h2>Linear probe</h2>"), std::string::npos);
  const double code = summary.at("probe_accuracy").get<double>();
  const double pixels = summary.at("pixel_probe_accuracy").get<double>();
  EXPECT_NE(page.find(fmt::format("<strong>{:.2f}%</strong> accuracy", 100 * code)),
            std::string::npos)
      << code;
  EXPECT_NE(page.find(fmt::format("<strong>{:.2f}%</strong>", 100 * pixels)), std::string::npos)
      << pixels;

  // The time: the whole run's, and its one epoch's.
  const double seconds = summary.at("seconds").get<double>();
  ASSERT_GT(seconds, 0.0);
  if (seconds < 60) {
    EXPECT_NE(page.find(fmt::format("Time: the run took {:.1f} s", seconds)), std::string::npos)
        << seconds;
  }
  EXPECT_NE(page.find("1 epoch of training and evaluation took"), std::string::npos);

  // The charts: mean L0, mean rho_hat, dead units (evaluation and train), explained variance,
  // each line with a point per row of metrics.csv (one epoch: one point, which still shows).
  const std::string metrics = test::read_text(run + "/metrics.csv");
  const auto epochs = static_cast<size_t>(std::count(metrics.begin(), metrics.end(), '\n') - 1);
  ASSERT_EQ(epochs, 1u);
  EXPECT_EQ(all(page, R"((<svg class="chart"))").size(), 4u);
  EXPECT_EQ(polyline_points(page), std::vector<size_t>(5, epochs));
  EXPECT_NE(page.find(R"(data-series="train")"), std::string::npos);
  EXPECT_NE(page.find(R"(<circle )"), std::string::npos);

  // Every card's histogram has its axes.
  EXPECT_EQ(all(page, R"((<svg class="histogram"))").size(), 64u);
  EXPECT_EQ(all(page, R"((>log count</text>))").size(), 64u);

  // The warning, exactly when the explained variance is <= 0.
  const double variance = summary.at("test").at("explained_variance").get<double>();
  EXPECT_EQ(page.find(R"(class="warning")") != std::string::npos, variance <= 0) << variance;
}

TEST(Report, ALineChartDrawsAPolylinePerSeriesAndWholeEpochTicks) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::vector<int64_t>> runs = {
      {1}, {1, 2}, {1, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};
  for (const std::vector<int64_t>& epochs : runs) {
    SCOPED_TRACE(epochs.size());
    LineChart chart;
    chart.title = "dead units";
    chart.x = epochs;
    std::vector<double> test, train;
    for (const int64_t e : epochs) {
      test.push_back(static_cast<double>(40 / e));
      train.push_back(static_cast<double>(44 / e));
    }
    chart.series = {{"test", test, "#00f"}, {"train", train, "#f80"}};
    chart.integer_values = chart.from_zero = true;
    const std::string svg = line_chart_svg(chart);
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << svg;
    EXPECT_EQ(polyline_points(svg), std::vector<size_t>(2, epochs.size())) << svg;
    EXPECT_NE(svg.find(R"(data-series="test")"), std::string::npos);
    EXPECT_NE(svg.find(">epoch</text>"), std::string::npos);
    // The x ticks (centred under the axis) are whole epochs within the run's.
    const auto x_ticks = all(svg, R"(text-anchor="middle">([^<]*)</text>)");
    ASSERT_GE(x_ticks.size(), 2u);  // a tick or more, then "epoch"
    for (size_t i = 0; i + 1 < x_ticks.size(); ++i) {
      EXPECT_TRUE(std::regex_match(x_ticks[i], std::regex(R"(\d+)"))) << x_ticks[i];
      EXPECT_GE(std::stoll(x_ticks[i]), epochs.front());
      EXPECT_LE(std::stoll(x_ticks[i]), epochs.back());
    }
    // Counts: whole-number y ticks too (right-aligned beside the axis).
    for (const auto& tick : all(svg, R"(text-anchor="end">([^<]*)</text>)")) {
      if (tick != "test" && tick != "train") {
        EXPECT_TRUE(std::regex_match(tick, std::regex(R"(\d+)"))) << tick;
      }
    }
  }

  // A missing value leaves out its point; a series with none leaves out its line; no value at
  // all, no chart.
  LineChart gaps;
  gaps.title = "explained variance";
  gaps.x = {1, 2, 3};
  gaps.series = {{"", {0.1, nan, 0.3}, "#00f"}, {"", {nan, nan, nan}, "#f80"}};
  gaps.reference = 0.0;
  gaps.reference_label = "mean image";
  const std::string svg = line_chart_svg(gaps);
  EXPECT_EQ(polyline_points(svg), std::vector<size_t>{2});
  EXPECT_NE(svg.find("mean image"), std::string::npos);
  gaps.series = {{"", {nan, nan, nan}, "#00f"}};
  EXPECT_EQ(line_chart_svg(gaps), "");
}

TEST(Report, ACardsHistogramLabelsItsRangeAndLogCounts) {
  std::vector<double> counts(20, 0.0);
  counts[0] = 250, counts[1] = 30, counts[19] = 2;
  const std::string svg = histogram_svg(counts, 0.0, 28.93, "activation");
  EXPECT_EQ(all(svg, R"((<rect x=))").size(), 21u);  // the plot's background and a bar per bin
  EXPECT_NE(svg.find(">0</text>"), std::string::npos);
  EXPECT_NE(svg.find(">28.9</text>"), std::string::npos);
  EXPECT_NE(svg.find(">activation</text>"), std::string::npos);
  EXPECT_NE(svg.find(">log count</text>"), std::string::npos);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);  // a power of ten below 250
}

TEST(Report, TheExplainedVarianceWarningComesAtZeroOrBelowAndSaysWhatToChange) {
  RunConfig sigmoid;  // penalty kl: beta weighs it
  sigmoid.epochs = 3;
  for (const double variance : {-0.08, 0.0}) {
    const std::string warning = explained_variance_warning(variance, sigmoid);
    EXPECT_NE(warning.find("mean image"), std::string::npos) << warning;
    EXPECT_NE(warning.find("--beta (now 0.005)"), std::string::npos) << warning;
    EXPECT_NE(warning.find("--epochs (now 3)"), std::string::npos) << warning;
  }
  EXPECT_NE(explained_variance_warning(-0.08, sigmoid).find("-0.0800"), std::string::npos);
  EXPECT_EQ(explained_variance_warning(0.3, sigmoid), "");
  EXPECT_EQ(explained_variance_warning(std::numeric_limits<double>::quiet_NaN(), sigmoid), "");
  RunConfig topk;
  topk.code = CodeKind::kTopK;
  topk.k = 8;
  const std::string warning = explained_variance_warning(-0.5, topk);
  EXPECT_NE(warning.find("--k (now 8)"), std::string::npos) << warning;
  EXPECT_EQ(warning.find("--beta"), std::string::npos) << warning;
}

/// A copy of `run` at `to` without its report, which tests may write into (the shared run is not
/// theirs to change).
void copy_run_without_report(const std::string& run, const fs::path& to) {
  fs::copy(run, to, fs::copy_options::recursive);
  fs::remove(to / "report.html");
  fs::remove_all(to / "report");
}

/// Every entry under `dir`, symlinks not followed, each file with its size: what a write changes.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> entries;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().lexically_relative(dir).string();
    if (entry.is_symlink()) {
      entries.push_back(name + " -> " + fs::read_symlink(entry.path()).string());
    } else if (entry.is_regular_file()) {
      entries.push_back(name + " " + std::to_string(entry.file_size()));
    } else {
      entries.push_back(name + "/");
    }
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

/// SWEEP/sweep.csv: the header sae sweep writes, then `rows`.
void write_sweep_csv(const fs::path& sweep, const std::string& rows) {
  fs::create_directories(sweep);
  std::ofstream(sweep / "sweep.csv")
      << "beta,rho,test_mse,mean_rho_hat,dead_units,mean_l0,probe_accuracy,seconds\n"
      << rows;
}

TEST(Report, ABadSweepTableIsOneLineAndWritesNothingAnywhere) {
  const std::string run = trained_run();
  struct Case {
    std::string rows;          // of sweep.csv
    std::string empty_folder;  // in SWEEP, where a folder name made of the row's text would begin
    std::string victim;        // a run (with no report yet) where that name would then lead
    std::string expected;      // the one line, after "SWEEP/sweep.csv: "
  };
  // SWEEP is ROOT/x/sweep, so SWEEP/beta=/../../../vict_rho=0.05 would be ROOT/vict_rho=0.05.
  const std::vector<Case> cases = {
      {"/../../../vict,0.05,0.1,0.05,0,1,0.5,1.0\n", "beta=", "vict_rho=0.05",
       "line 2: expected a finite number for beta, found '/../../../vict'"},
      // A good row first: the whole table is read before any run's report is written.
      {"0.01,0.05,0.1,0.05,0,1,0.5,1.0\n0.01,/../../../victim,0.1,0.05,0,1,0.5,1.0\n",
       "beta=0.01_rho=", "victim",
       "line 3: expected a finite number for rho, found '/../../../victim'"},
      {"0.01,abc,0.1,0.05,0,1,0.5,1.0\n", "", "",
       "line 2: expected a finite number for rho, found 'abc'"},
      {"0.01\n", "", "",
       "line 2: expected 8 comma-separated cells, one per column of the header, found 1: '0.01'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rows);
    test::TempDir root;
    const fs::path sweep = root.path() / "x" / "sweep";
    write_sweep_csv(sweep, c.rows);
    if (!c.empty_folder.empty()) fs::create_directories(sweep / c.empty_folder);
    if (!c.victim.empty()) copy_run_without_report(run, root.path() / c.victim);
    fs::create_directories(root.path() / "outside");
    const std::vector<std::string> before = listing(root.path());

    const auto r = test::run_sae({"report", sweep.string(), "--threads", "1", "--quiet"});
    test::expect_clean_failure(r, (sweep / "sweep.csv").string() + ": " + c.expected);
    EXPECT_NE(r.err.find("sae sweep"), std::string::npos) << r.err;  // how to write it anew
    EXPECT_EQ(listing(root.path()), before);  // no report outside, and no index inside either
    EXPECT_TRUE(fs::is_empty(root.path() / "outside"));
    if (!c.victim.empty()) {
      EXPECT_FALSE(fs::exists(root.path() / c.victim / "report.html"));
    }
  }
}

TEST(Report, ASweepLinksTheFolderItsNumbersNameAndFollowsNoSymlinkedRun) {
  const std::string run = trained_run();
  test::TempDir root;
  const fs::path sweep = root.path() / "sweep", elsewhere = root.path() / "elsewhere";
  // 1e-2 and 0.050 are the grid point sae sweep names beta=0.01_rho=0.05.
  write_sweep_csv(sweep, "1e-2,0.050,0.1,0.05,0,1,0.5,1.0\n0.02,0.05,0.1,0.05,0,1,0.5,1.0\n");
  copy_run_without_report(run, elsewhere);
  fs::create_directory_symlink(elsewhere, sweep / "beta=0.02_rho=0.05");
  const std::vector<std::string> before = listing(elsewhere);

  const auto r = test::run_sae({"report", sweep.string(), "--threads", "1", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("beta=0.01_rho=0.05: listed in sweep.csv, but no run is there"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("beta=0.02_rho=0.05: a symlink, not followed"), std::string::npos) << r.err;
  EXPECT_EQ(listing(elsewhere), before);
  const std::string index = test::read_text((sweep / "index.html").string());
  EXPECT_NE(index.find(R"(href="beta=0.01_rho=0.05/report.html")"), std::string::npos) << index;
  EXPECT_NE(index.find(R"(href="beta=0.02_rho=0.05/report.html")"), std::string::npos) << index;
}

TEST(Report, ASymlinkedReportFolderIsReplacedNotWrittenThrough) {
  const std::string run = trained_run();
  // A link to a folder outside the run, one to nothing, one to a file: each is replaced.
  for (const char* target : {"outside", "outside/missing", "outside/keep.txt"}) {
    SCOPED_TRACE(target);
    test::TempDir root;
    const fs::path copy = root.path() / "run", outside = root.path() / "outside";
    copy_run_without_report(run, copy);
    fs::create_directories(outside);
    std::ofstream(outside / "keep.txt") << "not sae's";
    fs::create_symlink(root.path() / target, copy / "report");
    // And report.html, as every file sae writes: the link is replaced, its target kept.
    fs::create_symlink(outside / "keep.txt", copy / "report.html");
    const std::vector<std::string> before = listing(outside);

    const auto r = test::run_sae({"report", copy.string(), "--threads", "1", "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(listing(outside), before);
    EXPECT_EQ(test::read_text((outside / "keep.txt").string()), "not sae's");
    EXPECT_FALSE(fs::is_symlink(copy / "report"));
    EXPECT_TRUE(fs::is_directory(copy / "report"));
    EXPECT_TRUE(fs::is_regular_file(copy / "report" / "unit-63-top.png"));
    EXPECT_FALSE(fs::is_symlink(copy / "report.html"));
    EXPECT_NE(test::read_text((copy / "report.html").string()).find("report/unit-63-top.png"),
              std::string::npos);
  }

  // A file where the folder goes may be the user's: it is named, not removed.
  test::TempDir root;
  const fs::path copy = root.path() / "run";
  copy_run_without_report(run, copy);
  std::ofstream(copy / "report") << "a file";
  test::expect_clean_failure(
      test::run_sae({"report", copy.string(), "--threads", "1", "--quiet"}),
      "cannot write " + (copy / "report").string() + ": expected a folder, found a file");
  EXPECT_EQ(test::read_text((copy / "report").string()), "a file");
  EXPECT_FALSE(fs::exists(copy / "report.html"));
}

}  // namespace
}  // namespace sae
