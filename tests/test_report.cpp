// The HTML reports, opened in a real browser (headless Chromium, which the test command
// installs): the page renders, every image loads, the 64 unit cards are there, sorting changes
// their order, and the console stays silent. Skipped, with the reason, where no Chromium is found.

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cstdio>
#include <filesystem>
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
  const Rendered page = open_in_browser(url + "#sort=2");  // by test_mse
  expect_clean_page(page, "index.html");
  const auto links = all(page.dom, R"(<a href="([^"]+)\")");
  ASSERT_EQ(links.size(), 2u);
  for (const auto& link : links) EXPECT_TRUE(fs::exists(fs::path(dir / "sweep") / link)) << link;
  const auto mses =
      all(page.dom,
          R"(<tr class="run"><td[^>]*>[^<]*</td><td[^>]*>[^<]*</td><td data-value="([^"]*)\")");
  ASSERT_EQ(mses.size(), 2u);
  EXPECT_LE(std::stod(mses[0]), std::stod(mses[1]));

  // `sae report` writes the index again, and a run's page for a run that lacks one.
  fs::remove(fs::path(dir / "sweep") / links[0]);
  const auto again = test::run_sae({"report", dir / "sweep", "--threads", "1", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(fs::exists(fs::path(dir / "sweep") / links[0]));
}

}  // namespace
}  // namespace sae
