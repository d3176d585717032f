#pragma once

#include <functional>
#include <string>

namespace sae {

/// Writes to a temporary file beside `path` and renames it into place; `write` gets the temporary
/// path.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string& tmp_path)>& write);

/// Writes `text` to `path` atomically; throws std::runtime_error if any byte fails to land.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace sae
