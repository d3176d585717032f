#include "sae/base/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include "sae/base/env.hpp"

#include <atomic>
#include <csignal>
#include <mutex>

namespace sae {
namespace {

constexpr int kDefaultColumns = 80;  // what a terminal that reports no width most likely has
constexpr int kMaxColumns = 100000;  // a larger $COLUMNS is not a width

std::atomic<bool> g_resized{false};
std::atomic<int> g_columns{0};   // 0 until read
struct sigaction g_previous {};  // the SIGWINCH handler installed before ours: ours calls it

void on_resize(int signal, siginfo_t* info, void* context) {
  g_resized.store(true);
  if ((g_previous.sa_flags & SA_SIGINFO) != 0) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(signal, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(signal);
  }
}

void install_resize_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_resize;
    sigemptyset(&action.sa_mask);
    // SA_RESTART: a resize must not fail a read or a write that happens to be in progress.
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGWINCH, nullptr, &g_previous);  // read first: our handler may run at once
    sigaction(SIGWINCH, &action, nullptr);
  });
}

int read_columns() {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  // COLUMNS is the shell's: a value sae cannot read is no error of the user's.
  return static_cast<int>(
      env_integer_if_valid("COLUMNS", 1, kMaxColumns).value_or(kDefaultColumns));
}

}  // namespace

int terminal_columns() {
  if (isatty(STDERR_FILENO) == 0) return 0;
  install_resize_handler();
  // The flag is taken before the width is read, so a resize during the read is read next time.
  if (g_resized.exchange(false) || g_columns.load() == 0) g_columns.store(read_columns());
  return g_columns.load();
}

}  // namespace sae
