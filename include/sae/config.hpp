#pragma once
// Config files: CLI11 maps their keys onto flags; this checks them as TOML first, because CLI11's
// own reader accepts malformed files without a word.

#include <string>

namespace sae {

/// "" when `path` is well-formed TOML, else "PATH:LINE:COLUMN: what is wrong".
std::string toml_syntax_error(const std::string& path);

}  // namespace sae
