#pragma once
// The width of the terminal on stderr: read with TIOCGWINSZ, and again after each SIGWINCH.

namespace sae {

/// Columns of the terminal on stderr, or 0 when stderr is not a terminal. The width is read with
/// ioctl(TIOCGWINSZ) on the first call and again on the first call after each SIGWINCH (the
/// handler, installed by the first call on a terminal, only sets a flag and then calls any
/// handler installed before it); $COLUMNS when the ioctl fails or reports 0, else 80.
int terminal_columns();

}  // namespace sae
