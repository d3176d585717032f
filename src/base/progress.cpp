#include "sae/base/progress.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace sae {
namespace {

constexpr int kBarWidth = 30;
constexpr double kBarRedrawSeconds = 0.1;

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace

ProgressStyle default_progress_style(bool quiet) {
  if (quiet) return ProgressStyle::kNone;
  return isatty(STDERR_FILENO) ? ProgressStyle::kBar : ProgressStyle::kLog;
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
      last_draw_(start_) {}

void Progress::step(int64_t images, double loss) {
  ++batches_;
  images_ += images;
  loss_sum_ += loss;
  draw(/*force=*/batches_ == total_batches_);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (style_ == ProgressStyle::kBar) std::fputs("\r\033[2K", stderr);
  std::fflush(stderr);
}

Progress::~Progress() {
  finish();
}

void Progress::draw(bool force) {
  if (style_ == ProgressStyle::kNone) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const double interval = style_ == ProgressStyle::kBar ? kBarRedrawSeconds : log_every_seconds_;
  if (!force && since_draw < interval) return;
  last_draw_ = now;

  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double images_per_s = elapsed > 0 ? images_ / elapsed : 0.0;
  const int64_t done_here = batches_ - first_batch_;
  const double seconds_left =
      done_here > 0 ? elapsed / done_here * (total_batches_ - batches_) : 0.0;
  const double running_loss = loss_sum_ / std::max<int64_t>(done_here, 1);
  const std::string stats =
      fmt::format("{}/{} batches  {:.0f} img/s  loss {:.5f}  {} left", batches_, total_batches_,
                  images_per_s, running_loss, format_duration(seconds_left));
  if (style_ == ProgressStyle::kLog) {
    // The last batch is reported by the epoch summary line instead.
    if (batches_ < total_batches_) spdlog::info("{} {}", label_, stats);
    return;
  }
  const int filled = static_cast<int>(kBarWidth * batches_ / std::max<int64_t>(total_batches_, 1));
  fmt::print(stderr, "\r\033[2K{} [{:=<{}}{: <{}}] {}", label_, "", filled, "", kBarWidth - filled,
             stats);
  std::fflush(stderr);
}

}  // namespace sae
