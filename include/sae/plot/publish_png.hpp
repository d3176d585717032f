#pragma once
// Pictures from a renderer that reports no errors (PLplot writes to a file name and says nothing
// of a full disk): rendered in a private folder, read whole by libpng, only then published.

#include <functional>
#include <string>

namespace sae {

/// Calls `render` with a file name in a private folder under $TMPDIR (or /tmp) and writes what it
/// left there to `path` atomically if libpng reads it as a whole PNG, CRCs included, with nothing
/// after IEND; throws std::runtime_error "cannot write PATH: ..." otherwise, leaving what was at
/// `path`. The folder goes however this ends.
void publish_png(const std::string& path,
                 const std::function<void(const std::string& file)>& render);

}  // namespace sae
