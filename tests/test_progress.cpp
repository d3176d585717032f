#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "sae/base/progress.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

namespace sae {
namespace {

/// Points stderr (fd 2) at `fd` while alive, then back.
class StderrTo {
 public:
  explicit StderrTo(int fd) : saved_(::dup(STDERR_FILENO)) { ::dup2(fd, STDERR_FILENO); }
  ~StderrTo() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  StderrTo(const StderrTo&) = delete;
  StderrTo& operator=(const StderrTo&) = delete;

 private:
  int saved_;
};

/// spdlog's default logger as main() sets it up (stderr, colours on a terminal only) while alive.
class MainsLogger {
 public:
  MainsLogger() : saved_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "progress-test", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~MainsLogger() { spdlog::set_default_logger(saved_); }
  MainsLogger(const MainsLogger&) = delete;
  MainsLogger& operator=(const MainsLogger&) = delete;

 private:
  std::shared_ptr<spdlog::logger> saved_;
};

bool has_control_characters(const std::string& text) {
  return text.find('\r') != std::string::npos || text.find('\033') != std::string::npos;
}

/// What a pass of `batches` quick batches in `style` prints on stderr.
std::string printed_by(ProgressStyle style, int64_t batches) {
  testing::internal::CaptureStderr();
  {
    const MainsLogger logger;  // after the capture: colours only on a terminal, as in main()
    Progress progress("epoch 1", batches, style);
    for (int64_t b = 0; b < batches; ++b) progress.step(/*images=*/32, /*loss=*/0.5);
    progress.finish();
  }
  return testing::internal::GetCapturedStderr();
}

TEST(Progress, QuietMeansNoProgressAndATerminalMeansABar) {
  EXPECT_EQ(default_progress_style(/*quiet=*/true), ProgressStyle::kNone);

  test::TempDir dir;
  const int file = ::open((dir / "stderr.txt").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(file, 0);
  {
    const StderrTo to_a_file(file);
    EXPECT_EQ(default_progress_style(/*quiet=*/false), ProgressStyle::kLog);
    EXPECT_EQ(default_progress_style(/*quiet=*/true), ProgressStyle::kNone);
  }
  ::close(file);

  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    GTEST_SKIP() << "no pseudo-terminal to stand in for a terminal";
  }
  const int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(terminal, 0);
  {
    const StderrTo to_a_terminal(terminal);
    EXPECT_EQ(default_progress_style(/*quiet=*/false), ProgressStyle::kBar);
    EXPECT_EQ(default_progress_style(/*quiet=*/true), ProgressStyle::kNone);
  }
  ::close(terminal);
  ::close(master);
}

TEST(Progress, OnlyTheBarDrawsAQuickPass) {
  // The bar redraws in place: carriage returns and an erase-line escape.
  const std::string bar = printed_by(ProgressStyle::kBar, 5);
  EXPECT_NE(bar.find("\r\033[2K"), std::string::npos) << bar;
  EXPECT_NE(bar.find("5/5 batches"), std::string::npos) << bar;
  // kLog speaks every 10 s and leaves the last batch to the epoch's summary line; kNone never.
  EXPECT_EQ(printed_by(ProgressStyle::kLog, 5), "");
  EXPECT_EQ(printed_by(ProgressStyle::kNone, 5), "");
}

TEST(Progress, ALogLineEveryIntervalHasNoControlCharacters) {
  testing::internal::CaptureStderr();
  {
    const MainsLogger logger;  // after the capture: colours only on a terminal, as in main()
    // A resumed epoch that picks up after batch 2 of 6.
    Progress progress("epoch 3", 6, ProgressStyle::kLog, /*first_batch=*/2,
                      /*log_every_seconds=*/0.2);
    progress.step(32, 0.25);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // past the log interval
    progress.step(32, 0.75);
    progress.step(32, 0.5);  // too soon after the last line: nothing
    progress.finish();
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("epoch 3 4/6 batches"), std::string::npos) << log;
  EXPECT_NE(log.find("loss 0.50000"), std::string::npos) << log;  // the mean of 0.25 and 0.75
  EXPECT_EQ(log.find("5/6"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_FALSE(has_control_characters(log)) << log;
}

TEST(Progress, EmptyAndAlreadyFinishedPassesDoNotThrow) {
  for (const auto style : {ProgressStyle::kNone, ProgressStyle::kLog}) {
    testing::internal::CaptureStderr();
    EXPECT_NO_THROW({
      Progress progress("probe", 0, style);  // an empty pass
      progress.finish();
      progress.finish();  // twice: the destructor calls it again too
    });
    EXPECT_NO_THROW({
      Progress progress("epoch 1", 2, style, /*first_batch=*/2);  // resumed at its very end
      progress.step(10, 1.0);
    });
    EXPECT_FALSE(has_control_characters(testing::internal::GetCapturedStderr()));
  }
}

}  // namespace
}  // namespace sae
