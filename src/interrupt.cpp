#include "sae/interrupt.hpp"

#include <pthread.h>

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

BlockStopSignals::BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, &previous_);
}

BlockStopSignals::~BlockStopSignals() {
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

}  // namespace sae
