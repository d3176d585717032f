#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sae/base/errors.hpp"
#include "sae/base/progress.hpp"
#include "sae/base/terminal.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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

/// Sets an environment variable while alive, then restores what it was.
class EnvSet {
 public:
  EnvSet(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~EnvSet() {
    if (saved_) {
      ::setenv(name_, saved_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvSet(const EnvSet&) = delete;
  EnvSet& operator=(const EnvSet&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
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

/// A pseudo-terminal: the test reads the master end, the code under test writes to the slave.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) return;
    slave_ = ::open(::ptsname(master_), O_RDWR | O_NOCTTY);
  }
  ~PseudoTerminal() {
    close_slave();
    if (master_ >= 0) ::close(master_);
  }
  PseudoTerminal(const PseudoTerminal&) = delete;
  PseudoTerminal& operator=(const PseudoTerminal&) = delete;

  bool ok() const { return master_ >= 0 && slave_ >= 0; }
  int master() const { return master_; }
  int slave() const { return slave_; }
  /// Once a child has the slave end, so that reading the master fails (EIO) when it exits.
  void close_slave() {
    if (slave_ >= 0) ::close(slave_);
    slave_ = -1;
  }
  /// What a terminal window of `columns` columns reports (TIOCGWINSZ); 0: a terminal that says
  /// nothing about its width.
  void resize(int columns) const {
    winsize size{};
    size.ws_row = 24;
    size.ws_col = static_cast<unsigned short>(columns);
    ASSERT_EQ(::ioctl(master_, TIOCSWINSZ, &size), 0);
  }
  /// What the slave's writers have written so far: read until nothing more comes for 100 ms
  /// (the kernel hands a pty's output to the master side asynchronously).
  std::string read_available() const {
    std::string text;
    pollfd wait{master_, POLLIN, 0};
    char buffer[4096];
    while (::poll(&wait, 1, /*timeout_ms=*/100) > 0) {
      const ssize_t n = ::read(master_, buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    return text;
  }

 private:
  int master_ = -1;
  int slave_ = -1;
};

/// `text` without its escape sequences (colours, erase-line): what a terminal shows of it.
std::string visible(const std::string& text) {
  std::string shown;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\033') {
      shown += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '[') {  // CSI: parameters, then a final byte
      i += 2;
      while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
    } else {
      ++i;  // a two-character escape
    }
  }
  return shown;
}

/// A redraw in place: the text after a '\r', up to the next '\r' or '\n'.
struct Frame {
  size_t offset;     // where its '\r' is in the output
  int line;          // how many '\n' came before it: frames on one line never scrolled
  std::string text;  // visible text
};

/// The redraws in a terminal's output, log lines written over a cleared bar ("[12:00:00 info]
/// ...", spdlog's pattern) left out: the bar's frames and the status line's.
std::vector<Frame> frames_of(const std::string& output) {
  std::vector<Frame> frames;
  int line = 0;
  for (size_t i = 0; i < output.size(); ++i) {
    if (output[i] == '\n') ++line;
    if (output[i] != '\r' || (i + 1 < output.size() && output[i + 1] == '\n')) continue;  // ONLCR
    const size_t end = output.find_first_of("\r\n", i + 1);
    const std::string text =
        visible(output.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1));
    if (!text.empty() && text[0] != '[') frames.push_back({i, line, text});
  }
  return frames;
}

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

ProgressFrame a_frame() {
  ProgressFrame frame;
  frame.label = "epoch 10/10";
  frame.batches = 27;
  frame.total_batches = 600;
  frame.images_per_s = 1234.4;
  frame.loss = 0.01234;
  frame.elapsed_seconds = 3.2;
  frame.seconds_left = 65;
  return frame;
}

/// Whether each field that bar_line() may give up is in `line`, in the order it gives them up.
std::vector<bool> fields_in(const std::string& line) {
  const auto has = [&](const char* text) { return line.find(text) != std::string::npos; };
  return {has("1234 img/s"),     has("loss 0.01234"), has("00:03<"), has("["),
          has("27/600 batches"), has("27/600"),       has("01:05")};
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
    EXPECT_EQ(terminal_columns(), 0);
  }
  ::close(file);

  const PseudoTerminal terminal;
  if (!terminal.ok()) GTEST_SKIP() << "no pseudo-terminal to stand in for a terminal";
  {
    const StderrTo to_a_terminal(terminal.slave());
    EXPECT_EQ(default_progress_style(/*quiet=*/false), ProgressStyle::kBar);
    EXPECT_EQ(default_progress_style(/*quiet=*/true), ProgressStyle::kNone);
  }
}

TEST(Progress, TheBarLineFitsEveryWidthAndGivesUpFieldsInItsOrder) {
  const ProgressFrame frame = a_frame();
  std::vector<bool> wider;  // the fields one column wider
  for (int columns = 200; columns >= 0; --columns) {
    const std::string line = bar_line(frame, columns);
    ASSERT_LE(line.size(), static_cast<size_t>(std::max(columns - 1, 0))) << columns;
    EXPECT_FALSE(has_control_characters(line)) << line;
    const std::vector<bool> fields = fields_in(line);
    for (size_t f = 0; f + 1 < fields.size(); ++f) {
      // A field is given up only after every field before it in the order.
      EXPECT_TRUE(!fields[f] || fields[f + 1]) << "at " << columns << ": " << line;
    }
    for (size_t f = 0; f < fields.size() && !wider.empty(); ++f) {
      EXPECT_TRUE(!fields[f] || wider[f]) << "a field came back narrower, at " << columns;
    }
    wider = fields;
    // The bar shrinks before anything goes: a bar under 40 means the line takes the whole width.
    const size_t open = line.find('['), close = line.find(']');
    if (open != std::string::npos && close - open - 1 < 40) {
      EXPECT_EQ(line.size(), static_cast<size_t>(columns - 1)) << line;
      EXPECT_GE(close - open - 1, 10u) << line;
    }
  }
}

TEST(Progress, TheBarLineAtFortySixtyEightyAndTwoHundredColumns) {
  const ProgressFrame frame = a_frame();
  const std::string wide = bar_line(frame, 200);
  for (const char* field : {"epoch 10/10", "  4%", "[=", "27/600 batches", "1234 img/s",
                            "loss 0.01234", "00:03<01:05"}) {
    EXPECT_NE(wide.find(field), std::string::npos) << field << " in " << wide;
  }
  EXPECT_EQ(wide.find(']') - wide.find('[') - 1, 40u) << "the widest bar: " << wide;
  for (const int columns : {40, 60, 80}) {
    const std::string line = bar_line(frame, columns);
    EXPECT_LT(line.size(), static_cast<size_t>(columns)) << line;
    EXPECT_EQ(line.rfind("epoch 10/10   4%", 0), 0u) << line;  // label and percentage stay
    EXPECT_NE(line.find("01:05"), std::string::npos) << line;  // and the time left
    EXPECT_EQ(line.find("img/s"), std::string::npos) << line;  // the first to go
  }
  EXPECT_NE(bar_line(frame, 80).find("loss"), std::string::npos);
  EXPECT_NE(bar_line(frame, 60).find("["), std::string::npos);
  EXPECT_EQ(bar_line(frame, 40).find("["), std::string::npos);
  EXPECT_EQ(bar_line(frame, 1), "");
  EXPECT_EQ(bar_line(frame, 5), "epoc");
}

TEST(Progress, OnlyTheBarDrawsAQuickPass) {
  // The bar redraws in place: carriage returns and an erase-line escape.
  const std::string bar = printed_by(ProgressStyle::kBar, 5);
  EXPECT_NE(bar.find("\r\033[2K"), std::string::npos) << bar;
  EXPECT_NE(bar.find("100% [="), std::string::npos) << bar;
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
    Progress progress("epoch 3/5", 6, ProgressStyle::kLog, /*first_batch=*/2,
                      /*log_every_seconds=*/0.2);
    progress.step(32, 0.25);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // past the log interval
    progress.step(32, 0.75);
    progress.step(32, 0.5);  // too soon after the last line: nothing
    progress.finish();
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("epoch 3/5 66% 4/6 batches"), std::string::npos) << log;
  EXPECT_NE(log.find("loss 0.50000"), std::string::npos) << log;  // the mean of 0.25 and 0.75
  EXPECT_NE(log.find("00:00 elapsed, 00:00 left"), std::string::npos) << log;
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

TEST(Progress, ARedrawIntervalThatIsNoNumberIsRefused) {
  const EnvSet interval("SAE_PROGRESS_REDRAW_MS", "fast");
  EXPECT_THROW(Progress("epoch 1", 2, ProgressStyle::kBar), UsageError);
  EXPECT_NO_THROW(Progress("epoch 1", 2, ProgressStyle::kLog));  // only the bar reads it
}

TEST(Progress, TheStatusLineSaysWhatTheRunDoesWithoutBatches) {
  testing::internal::CaptureStderr();
  {
    const MainsLogger logger;
    StatusLine status(ProgressStyle::kLog);
    status.show("linear probe");
    status.show("pictures");
    status.clear();
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("linear probe...\n"), std::string::npos) << log;
  EXPECT_NE(log.find("pictures...\n"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;
  EXPECT_FALSE(has_control_characters(log)) << log;

  testing::internal::CaptureStderr();
  {
    StatusLine status(ProgressStyle::kNone);
    status.show("pictures");
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");

  testing::internal::CaptureStderr();
  {
    StatusLine status(ProgressStyle::kBar);
    status.clear();  // nothing shown: nothing to erase
    status.show("report");
  }  // the destructor erases it
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "\r\033[2Kreport...\r\033[2K");
}

// In a pseudo-terminal of this process: the width is the terminal's, read again on SIGWINCH.
TEST(Progress, TheBarAndTheStatusLineFollowTheTerminalsWidth) {
  const PseudoTerminal terminal;
  if (!terminal.ok()) GTEST_SKIP() << "no pseudo-terminal to stand in for a terminal";
  const EnvSet every_batch("SAE_PROGRESS_REDRAW_MS", "0");
  const StderrTo to_the_terminal(terminal.slave());
  // This process is not in the terminal's session, so the kernel does not signal it: the test
  // raises SIGWINCH itself (ignored by default, so harmless before the handler is installed).
  terminal.resize(60);
  std::raise(SIGWINCH);
  EXPECT_EQ(terminal_columns(), 60);

  Progress progress("epoch 1/2", 5, ProgressStyle::kBar);
  progress.step(32, 0.5);
  progress.step(32, 0.5);
  const std::vector<Frame> narrow = frames_of(terminal.read_available());
  ASSERT_EQ(narrow.size(), 2u);
  for (const Frame& frame : narrow) {
    EXPECT_LT(frame.text.size(), 60u) << frame.text;
    EXPECT_EQ(frame.text.rfind("epoch 1/2  ", 0), 0u) << frame.text;
    EXPECT_NE(frame.text.find("% ["), std::string::npos) << frame.text;
    EXPECT_EQ(frame.text.find("img/s"), std::string::npos) << frame.text;  // no room for it
  }

  terminal.resize(200);
  std::raise(SIGWINCH);
  progress.step(32, 0.5);
  const std::vector<Frame> wide = frames_of(terminal.read_available());
  ASSERT_EQ(wide.size(), 1u);
  EXPECT_LT(wide[0].text.size(), 200u);
  EXPECT_NE(wide[0].text.find("img/s  loss 0.50000  00:00<00:00"), std::string::npos)
      << wide[0].text;
  progress.finish();

  terminal.resize(20);
  std::raise(SIGWINCH);
  {
    StatusLine status(ProgressStyle::kBar);
    status.show("a status longer than the terminal is wide");
  }
  const std::vector<Frame> status = frames_of(terminal.read_available());
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].text, "a status longer tha");  // 19 columns: one short of a wrap

  // A terminal that reports no width: $COLUMNS, else 80.
  terminal.resize(0);
  {
    const EnvSet columns("COLUMNS", "77");
    std::raise(SIGWINCH);
    EXPECT_EQ(terminal_columns(), 77);
  }
  {
    const EnvSet columns("COLUMNS", "wide");  // the shell's variable: no error, the default
    std::raise(SIGWINCH);
    EXPECT_EQ(terminal_columns(), 80);
  }
}

// End-to-end: `sae train` in a pseudo-terminal, as a user runs it.

/// What `sae train` showed in a pseudo-terminal of `columns` columns, and where the terminal was
/// resized to `resize_to` (when > 0): after the first bar frame, with the child stopped.
struct TerminalRun {
  int exit_code = -1;
  std::string output;     // everything written to the terminal
  size_t resized_at = 0;  // output written before the resize, or output.size() without one
};

TerminalRun train_in_terminal(int columns, int resize_to = 0) {
  TerminalRun run;
  PseudoTerminal terminal;
  if (!terminal.ok()) {
    ADD_FAILURE() << "no pseudo-terminal";
    return run;
  }
  terminal.resize(columns);
  const test::TempDir dir;
  const std::string data = test::shared_data(/*train_count=*/300, /*test_count=*/100);
  const int master = terminal.master();
  const int slave = terminal.slave();
  // 2 epochs of 30 batches, every batch a frame.
  const pid_t pid =
      test::spawn_sae({"train", "--out", dir / "run", "--data-dir", data, "--epochs", "2",
                       "--batch-size", "10", "--threads", "1"},
                      dir / "err", {{"SAE_PROGRESS_REDRAW_MS", "0"}}, [master, slave] {
                        // The terminal becomes the child's controlling terminal, as a shell's is: a
                        // resize signals it, as it does a program run in a terminal window.
                        ::setsid();
                        ::ioctl(slave, TIOCSCTTY, 0);
                        ::dup2(slave, STDIN_FILENO);
                        ::dup2(slave, STDOUT_FILENO);
                        ::dup2(slave, STDERR_FILENO);
                        ::close(slave);
                        ::close(master);
                      });
  terminal.close_slave();

  bool resized = resize_to <= 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  char buffer[4096];
  for (;;) {
    pollfd wait{master, POLLIN, 0};
    const int ready = ::poll(&wait, 1, /*timeout_ms=*/1000);
    if (ready == 0 && std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << "sae train did not end in 5 minutes: " << visible(run.output);
      break;
    }
    if (ready <= 0) continue;
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO: the child and every slave end are gone
    run.output.append(buffer, static_cast<size_t>(n));
    if (!resized && !frames_of(run.output).empty()) {
      // Stopped, and what it wrote before read, so that whatever follows the resize was
      // written after it.
      ::kill(pid, SIGSTOP);
      int status = 0;
      ::waitpid(pid, &status, WUNTRACED);
      run.output += terminal.read_available();
      run.resized_at = run.output.size();
      terminal.resize(resize_to);  // the kernel sends SIGWINCH to the child's process group
      ::kill(pid, SIGWINCH);       // and so do we, in case it does not
      ::kill(pid, SIGCONT);
      resized = true;
    }
  }
  if (resize_to <= 0) run.resized_at = run.output.size();
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  EXPECT_EQ(run.exit_code, 0) << visible(run.output) << test::read_text(dir / "err");
  return run;
}

/// Every frame drawn before the resize fits `columns`, every epoch's frames are drawn on one
/// line, and each epoch drew several.
void expect_fits_and_never_scrolls(const TerminalRun& run, int columns) {
  const std::vector<Frame> frames = frames_of(run.output);
  for (const Frame& frame : frames) {
    if (frame.offset >= run.resized_at) break;
    EXPECT_LT(frame.text.size(), static_cast<size_t>(columns)) << frame.text;
  }
  for (const char* epoch : {"epoch 1", "epoch 2"}) {
    std::vector<Frame> of_epoch;
    for (const Frame& frame : frames) {
      if (frame.text.rfind(epoch, 0) == 0) of_epoch.push_back(frame);
    }
    ASSERT_GE(of_epoch.size(), 2u) << epoch << " drew no frames: " << visible(run.output);
    EXPECT_EQ(of_epoch.front().line, of_epoch.back().line)
        << epoch << "'s frames scrolled: " << visible(run.output);
  }
}

TEST(ProgressInATerminal, TrainingFitsSixtyColumnsAndNeverScrolls) {
  const TerminalRun run = train_in_terminal(60);
  expect_fits_and_never_scrolls(run, 60);
}

TEST(ProgressInATerminal, TrainingFitsEightyColumnsAndNeverScrolls) {
  const TerminalRun run = train_in_terminal(80);
  expect_fits_and_never_scrolls(run, 80);
}

TEST(ProgressInATerminal, TrainingAtTwoHundredColumnsShowsEveryField) {
  const TerminalRun run = train_in_terminal(200);
  expect_fits_and_never_scrolls(run, 200);
  bool every_field = false;
  for (const Frame& frame : frames_of(run.output)) {
    const auto has = [&](const char* text) { return frame.text.find(text) != std::string::npos; };
    every_field = every_field || (has("epoch 1/2") && has("%") && has("[=") && has("/30 batches") &&
                                  has("img/s") && has("loss") && has("<"));
  }
  EXPECT_TRUE(every_field) << visible(run.output);
}

TEST(ProgressInATerminal, ANarrowedTerminalNarrowsTheBarMidRun) {
  const TerminalRun run = train_in_terminal(80, /*resize_to=*/60);
  expect_fits_and_never_scrolls(run, 80);
  std::vector<Frame> before, after;
  for (const Frame& frame : frames_of(run.output)) {
    (frame.offset < run.resized_at ? before : after).push_back(frame);
  }
  ASSERT_FALSE(before.empty());
  EXPECT_GE(before.front().text.size(), 60u) << before.front().text;  // 80 columns' worth
  // The first frame after the resize may have been made before it, when the child stopped.
  ASSERT_GE(after.size(), 3u) << visible(run.output);
  for (size_t i = 1; i < after.size(); ++i) {
    EXPECT_LT(after[i].text.size(), 60u) << after[i].text;
  }
}

}  // namespace
}  // namespace sae
