#pragma once
// Progress of one epoch: a bar on a terminal, a plain log line now and then elsewhere.

#include <chrono>
#include <cstdint>
#include <string>

namespace sae {

/// How progress is shown.
enum class ProgressStyle {
  kBar,   // redrawn in place on stderr (a terminal)
  kLog,   // an spdlog line every few seconds, no control characters (CI, pipes, files)
  kNone,  // --quiet
};

/// Picks kBar when stderr is a terminal, else kLog; kNone when quiet.
ProgressStyle default_progress_style(bool quiet);

/// Tracks batches of one pass and shows batch i/n, images/s, running loss and time left.
class Progress {
 public:
  /// `first_batch` > 0 when a resumed epoch picks up in the middle; kLog speaks every
  /// `log_every_seconds`.
  Progress(std::string label, int64_t total_batches, ProgressStyle style, int64_t first_batch = 0,
           double log_every_seconds = 10.0);
  /// Records one finished batch of `images` images with mean loss `loss`.
  void step(int64_t images, double loss);
  /// Clears the bar; call once the pass is over (the destructor does it too, e.g. on an error).
  void finish();
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  void draw(bool force);

  std::string label_;
  int64_t total_batches_;
  ProgressStyle style_;
  int64_t batches_ = 0;
  int64_t first_batch_ = 0;
  double log_every_seconds_ = 10.0;
  int64_t images_ = 0;
  bool finished_ = false;
  double loss_sum_ = 0.0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace sae
