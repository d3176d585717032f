// Config files: what read_config_file accepts, and the bounds it puts on a file before any parser
// sees it (issue: a 200 KB file of dotted keys took 24 GB through CLI11's own reader).

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "sae/base/errors.hpp"
#include "sae/base/toml_file.hpp"
#include "test_util.hpp"

#include <chrono>
#include <fstream>
#include <string>

namespace sae {
namespace {

std::string write(const test::TempDir& tmp, const std::string& name, const std::string& text) {
  const std::string path = tmp / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

/// The UsageError's message that reading `text` gives ("" when it reads).
std::string error_of(const test::TempDir& tmp, const std::string& text) {
  try {
    read_config_file(write(tmp, "c.toml", text));
    return "";
  } catch (const UsageError& e) {
    return e.what();
  }
}

TEST(Config, ReadsSectionsKeysAndValuesInFileOrder) {
  test::TempDir tmp;
  const auto settings = read_config_file(write(tmp, "c.toml",
                                               "\xEF\xBB\xBF# comment\n[train]\nseed = 7\n"
                                               "beta = 0.005 # why\ndata-dir = \"a.b.c\"\n"
                                               "device = 'cpu'\nlist = [1, 2.5]\n"));
  ASSERT_EQ(settings.size(), 5u);
  EXPECT_EQ(settings[0].section, "train");
  EXPECT_EQ(settings[0].key, "seed");
  EXPECT_EQ(settings[0].values, std::vector<std::string>{"7"});
  EXPECT_EQ(settings[0].where, tmp / "c.toml" + ":3:1");
  EXPECT_EQ(settings[1].values, std::vector<std::string>{"0.005"});
  EXPECT_EQ(settings[2].values, std::vector<std::string>{"a.b.c"});
  EXPECT_EQ(settings[3].key, "device");
  EXPECT_EQ(settings[4].values, (std::vector<std::string>{"1", "2.5"}));
}

TEST(Config, MalformedTomlNamesFileLineAndColumnAndSaysToml) {
  test::TempDir tmp;
  const std::string error = error_of(tmp, "[train]\nepochs = = 3\n");
  EXPECT_NE(error.find(tmp / "c.toml" + ":2:"), std::string::npos) << error;
  EXPECT_NE(error.find("TOML"), std::string::npos) << error;
  EXPECT_EQ(error.find("INI"), std::string::npos) << error;
}

TEST(Config, RefusesDeepNestingBeforeParsing) {
  test::TempDir tmp;
  // A header nine levels deep, a dotted key and nested arrays; each at its first broken column.
  EXPECT_NE(error_of(tmp, "[train]\n[a.b.c.d.e.f.g.h.i]\nx = 1\n").find("c.toml:2:"),
            std::string::npos);
  EXPECT_NE(error_of(tmp, "a.b.c.d.e.f.g.h.i.j = 1\n").find("nested more than 8"),
            std::string::npos);
  EXPECT_NE(error_of(tmp, "x = [[[[[[[[[1]]]]]]]]]\n").find("c.toml:1:"), std::string::npos);
  EXPECT_NE(
      error_of(tmp,
               "x = { a = { b = { c = { d = { e = { f = { g = { h = { i = 1 } } } } } } } } }\n")
          .find("nested"),
      std::string::npos);
  // Eight levels pass the bounds (and are then refused as no setting of sae's), and dots inside
  // strings, values and comments do not count.
  EXPECT_EQ(error_of(tmp, "a.b.c.d.e.f.g.h.i = 1\n").find("nested"), std::string::npos);
  EXPECT_EQ(error_of(tmp,
                     "[train]\ndata-dir = \"a.b.c.d.e.f.g.h.i.j\" # a.b.c.d.e.f.g.h.i.j\n"
                     "lr = 1.5e-3\n'x.y' = '''a.b.c.d.e.f.g.h.i\n.j.k'''\n"),
            "");
}

TEST(Config, RefusesTooManyKeysAndTooLargeAFile) {
  test::TempDir tmp;
  std::string keys = "[train]\n";
  for (int i = 0; i < 300; ++i) keys += "k" + std::to_string(i) + " = 1\n";
  EXPECT_NE(error_of(tmp, keys).find("more than 256 keys"), std::string::npos);
  const std::string large = "[train]\n# " + std::string(70 * 1024, 'x') + "\n";
  EXPECT_NE(error_of(tmp, large).find("more than 65536 bytes"), std::string::npos);
}

TEST(Config, AFifoIsRefusedWithoutWaitingForAWriter) {
  test::TempDir tmp;
  ASSERT_EQ(::mkfifo((tmp / "c.toml").c_str(), 0600), 0);
  try {
    read_config_file(tmp / "c.toml");
    ADD_FAILURE() << "read a FIFO";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(Config, TheHostileFilesCostLittle) {
  // The files, at depths 10,000 and 100,000, and a long array of arrays: each refused in
  // well under a second, and the process's peak memory grows by less than 64 MiB (CLI11's reader
  // took 3.3 and 24 GB).
  test::TempDir tmp;
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  for (const int depth : {10000, 100000}) {
    std::string dotted = "[train]\nepochs=1\n[a";
    for (int i = 1; i < depth; ++i) dotted += ".a";
    dotted += "]\nx=1\n";
    std::string arrays = "x = " + std::string(static_cast<size_t>(depth), '[');
    for (const std::string& text : {dotted, arrays}) {
      const auto start = std::chrono::steady_clock::now();
      EXPECT_NE(error_of(tmp, text), "");
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    }
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024);  // KiB
}

}  // namespace
}  // namespace sae
