#pragma once

#include <functional>
#include <string>

namespace sae {

/// Writes to a temporary file beside `path` and renames it into place; `write` gets the temporary
/// path.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string& tmp_path)>& write);

}  // namespace sae
