#include "sae/interrupt.hpp"

#include <csignal>

namespace sae {
namespace {

volatile std::sig_atomic_t g_received = 0;

extern "C" void record_signal(int signal) {
  g_received = signal;
  std::signal(signal, SIG_DFL);  // a second Ctrl-C ends the process at once
}

}  // namespace

StopOnSignal::StopOnSignal() {
  g_received = 0;
  std::signal(SIGINT, record_signal);
  std::signal(SIGTERM, record_signal);
}

StopOnSignal::~StopOnSignal() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

int StopOnSignal::received() {
  return g_received;
}

}  // namespace sae
