#include "sae/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

namespace sae {

std::string toml_syntax_error(const std::string& path) {
  try {
    static_cast<void>(toml::parse_file(path));
    return "";
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return fmt::format("{}:{}:{}: {}", path, where.line, where.column, e.description());
  }
}

}  // namespace sae
