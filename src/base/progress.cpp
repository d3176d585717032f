#include "sae/base/progress.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "sae/base/env.hpp"
#include "sae/base/terminal.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace sae {
namespace {

constexpr int kMaxBarWidth = 40;
constexpr int kMinBarWidth = 10;  // narrower says little: other fields go first, then the bar
constexpr int kColumnsOffTerminal = 80;  // kBar on a file or pipe: only tests ask for that
constexpr int64_t kDefaultRedrawMs = 100;
constexpr int64_t kMaxRedrawMs = 60000;
constexpr const char* kRedrawVariable = "SAE_PROGRESS_REDRAW_MS";
constexpr const char* kClearLine = "\r\033[2K";  // back to column 0, erase the whole line

int64_t percent_done(const ProgressFrame& frame) {
  if (frame.total_batches <= 0) return 100;
  return std::clamp<int64_t>(100 * frame.batches / frame.total_batches, 0, 100);
}

/// Which of the bar line's optional fields are shown; the levels below give them up in order.
struct Fields {
  bool rate, loss, elapsed, bar, word, counts, left;
};
constexpr Fields kLevels[] = {
    {true, true, true, true, true, true, true},         // everything (the bar 10..40 wide)
    {false, true, true, true, true, true, true},        // no img/s
    {false, false, true, true, true, true, true},       // no loss
    {false, false, false, true, true, true, true},      // "00:05 left", not "00:03<00:05"
    {false, false, false, false, true, true, true},     // no bar
    {false, false, false, false, false, true, true},    // "27/60", not "27/60 batches"
    {false, false, false, false, false, false, true},   // no i/n
    {false, false, false, false, false, false, false},  // label and percentage only
};

std::string compose(const ProgressFrame& frame, const Fields& fields, int bar_width) {
  std::string line = frame.label.empty() ? "" : frame.label + " ";
  line += fmt::format("{:>3}%", percent_done(frame));
  if (fields.bar) {
    const auto filled = static_cast<int>(bar_width * percent_done(frame) / 100);
    line += fmt::format(" [{:=<{}}{: <{}}]", "", filled, "", bar_width - filled);
  }
  if (fields.counts) {
    line += fmt::format(" {}/{}", frame.batches, frame.total_batches);
    if (fields.word) line += " batches";
  }
  if (fields.rate) line += fmt::format("  {:.0f} img/s", frame.images_per_s);
  if (fields.loss) line += fmt::format("  loss {:.5f}", frame.loss);
  if (fields.left) {
    line += fields.elapsed ? fmt::format("  {}<{}", format_duration(frame.elapsed_seconds),
                                         format_duration(frame.seconds_left))
                           : fmt::format("  {} left", format_duration(frame.seconds_left));
  }
  return line;
}

std::string log_line(const ProgressFrame& frame) {
  return fmt::format("{} {}% {}/{} batches  {:.0f} img/s  loss {:.5f}  {} elapsed, {} left",
                     frame.label, percent_done(frame), frame.batches, frame.total_batches,
                     frame.images_per_s, frame.loss, format_duration(frame.elapsed_seconds),
                     format_duration(frame.seconds_left));
}

/// The width a line on the terminal may take: one less than its columns, so it never wraps.
size_t visible_limit() {
  const int columns = terminal_columns();
  return static_cast<size_t>(std::max((columns > 0 ? columns : kColumnsOffTerminal) - 1, 0));
}

}  // namespace

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{:02}:{:02}", s / 60, s % 60);
}

ProgressStyle default_progress_style(bool quiet) {
  if (quiet) return ProgressStyle::kNone;
  return isatty(STDERR_FILENO) ? ProgressStyle::kBar : ProgressStyle::kLog;
}

std::string bar_line(const ProgressFrame& frame, int columns) {
  const auto limit = static_cast<size_t>(std::max(columns - 1, 0));
  for (const Fields& fields : kLevels) {
    const std::string without_bar = compose(frame, fields, 0);
    if (!fields.bar) {
      if (without_bar.size() <= limit) return without_bar;
      continue;
    }
    const size_t room = limit >= without_bar.size() ? limit - without_bar.size() : 0;
    if (room >= static_cast<size_t>(kMinBarWidth)) {
      return compose(frame, fields,
                     static_cast<int>(std::min(room, static_cast<size_t>(kMaxBarWidth))));
    }
  }
  return compose(frame, kLevels[std::size(kLevels) - 1], 0).substr(0, limit);
}

Progress::Progress(std::string label, int64_t total_batches, ProgressStyle style,
                   int64_t first_batch, double log_every_seconds)
    : label_(std::move(label)),
      total_batches_(total_batches),
      style_(style),
      batches_(first_batch),
      first_batch_(first_batch),
      log_every_seconds_(log_every_seconds),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (style_ == ProgressStyle::kBar) {
    redraw_seconds_ =
        static_cast<double>(
            env_integer(kRedrawVariable, 0, kMaxRedrawMs).value_or(kDefaultRedrawMs)) /
        1000.0;
  }
}

void Progress::step(int64_t images, double loss) {
  ++batches_;
  images_ += images;
  loss_sum_ += loss;
  draw(/*force=*/batches_ == total_batches_);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (style_ == ProgressStyle::kBar) std::fputs(kClearLine, stderr);
  std::fflush(stderr);
}

Progress::~Progress() {
  finish();
}

void Progress::draw(bool force) {
  if (style_ == ProgressStyle::kNone) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const double interval = style_ == ProgressStyle::kBar ? redraw_seconds_ : log_every_seconds_;
  if (!force && since_draw < interval) return;
  last_draw_ = now;

  ProgressFrame frame;
  frame.label = label_;
  frame.batches = batches_;
  frame.total_batches = total_batches_;
  frame.elapsed_seconds = std::chrono::duration<double>(now - start_).count();
  frame.images_per_s = frame.elapsed_seconds > 0 ? images_ / frame.elapsed_seconds : 0.0;
  const int64_t done_here = batches_ - first_batch_;
  frame.seconds_left =
      done_here > 0 ? frame.elapsed_seconds / done_here * (total_batches_ - batches_) : 0.0;
  frame.loss = loss_sum_ / std::max<int64_t>(done_here, 1);
  if (style_ == ProgressStyle::kLog) {
    // The last batch is reported by the epoch summary line instead.
    if (batches_ < total_batches_) spdlog::info("{}", log_line(frame));
    return;
  }
  const int columns = static_cast<int>(visible_limit()) + 1;
  fmt::print(stderr, "{}{}", kClearLine, bar_line(frame, columns));
  std::fflush(stderr);
}

void StatusLine::show(const std::string& what) {
  if (style_ == ProgressStyle::kNone) return;
  const std::string text = what + "...";
  if (style_ == ProgressStyle::kLog) {
    spdlog::info("{}", text);
    return;
  }
  fmt::print(stderr, "{}{}", kClearLine, text.substr(0, visible_limit()));
  std::fflush(stderr);
  shown_ = true;
}

void StatusLine::clear() {
  if (!shown_) return;
  shown_ = false;
  std::fputs(kClearLine, stderr);
  std::fflush(stderr);
}

StatusLine::~StatusLine() {
  clear();
}

}  // namespace sae
