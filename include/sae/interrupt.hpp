#pragma once
// Ctrl-C during training: finish the batch, save, say how to resume.

#include <csignal>

namespace sae {

/// While alive, SIGINT and SIGTERM only record that a stop was asked for, so training can end at
/// the next batch boundary and save a checkpoint. A second signal terminates as usual.
class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  /// The signal received since construction (SIGINT or SIGTERM), or 0.
  static int received();
};

/// While alive, SIGINT and SIGTERM wait (they are delivered when it ends), so that a second
/// Ctrl-C cannot kill the process between the files of one checkpoint.
class BlockStopSignals {
 public:
  BlockStopSignals();
  ~BlockStopSignals();
  BlockStopSignals(const BlockStopSignals&) = delete;
  BlockStopSignals& operator=(const BlockStopSignals&) = delete;

 private:
  sigset_t previous_;
};

}  // namespace sae
