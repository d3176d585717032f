#pragma once
// Progress of one pass: a bar that fits the terminal, a plain log line now and then elsewhere;
// and a status line for the work that has no batches (the end of a run).

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

/// A duration as the bar writes it: "01:05", or "1:02:03" from an hour on.
std::string format_duration(double seconds);

/// What one frame of the bar shows.
struct ProgressFrame {
  std::string label;  // the caller's, e.g. "epoch 2/10"
  int64_t batches = 0;
  int64_t total_batches = 0;
  double images_per_s = 0.0;
  double loss = 0.0;  // the running mean of this pass
  double elapsed_seconds = 0.0;
  double seconds_left = 0.0;
};

/// The bar's line, at most `columns` - 1 characters (ASCII, no control characters), so that it
/// never wraps and its redraws never scroll. In full, tqdm-like:
///   epoch 2/10  45% [=========           ] 27/60 batches  1234 img/s  loss 0.01234  00:03<00:05
/// As `columns` narrows, it gives up, in this order: (1) bar width, from 40 down to 10
/// characters; (2) img/s; (3) loss; (4) the elapsed time ("00:03<00:05" becomes "00:05 left");
/// (5) the bar; (6) the word "batches"; (7) i/n; (8) the time left; then the label and the
/// percentage are cut at the right edge.
std::string bar_line(const ProgressFrame& frame, int columns);

/// Tracks batches of one pass and shows its percentage, batch i/n, images/s, running loss, and
/// elapsed and remaining time. kBar redraws every 0.1 s, or every $SAE_PROGRESS_REDRAW_MS
/// milliseconds (0: every batch; for a slow link, or for tests), fitted to terminal_columns().
class Progress {
 public:
  /// `first_batch` > 0 when a resumed epoch picks up in the middle; kLog speaks every
  /// `log_every_seconds`. kBar throws UsageError when $SAE_PROGRESS_REDRAW_MS is set but not an
  /// integer in [0, 60000].
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
  double redraw_seconds_ = 0.1;
  int64_t images_ = 0;
  bool finished_ = false;
  double loss_sum_ = 0.0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// What a run is doing when it has no batches to count ("linear probe", "pictures"): on a
/// terminal (kBar) "linear probe..." on the bar's line, fitted to its width, until the next
/// show() or clear(); with kLog one info line "linear probe..." per show(); kNone nothing.
///   StatusLine status(style);
///   status.show("linear probe");  // ... the probe ...
///   status.show("pictures");      // ... the pictures ...
///   status.clear();               // before the next log line
class StatusLine {
 public:
  explicit StatusLine(ProgressStyle style) : style_(style) {}
  /// Replaces what the line says with `what` followed by "...".
  void show(const std::string& what);
  /// Erases the line on a terminal (nothing otherwise); the destructor does it too.
  void clear();
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

 private:
  ProgressStyle style_;
  bool shown_ = false;  // a line to erase is on the terminal
};

}  // namespace sae
