#include "sae/base/env.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"

#include <cerrno>
#include <cstdlib>

namespace sae {
namespace {

/// `text` in full as a decimal integer in [min, max], or nullopt. strtoll's syntax (leading
/// spaces and a sign allowed), which is what the launch variables were always read with.
std::optional<int64_t> parse_integer(const std::string& text, int64_t min, int64_t max) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE || value < min || value > max) {
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

}  // namespace

std::optional<std::string> env_text(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::optional<int64_t> env_integer(const char* name, int64_t min, int64_t max) {
  const std::optional<std::string> text = env_text(name);
  if (!text) return std::nullopt;
  if (const auto value = parse_integer(*text, min, max)) return value;
  throw UsageError(fmt::format("{}={} is not an integer in [{}, {}]", name, *text, min, max));
}

std::optional<int64_t> env_integer_if_valid(const char* name, int64_t min, int64_t max) {
  const std::optional<std::string> text = env_text(name);
  return text ? parse_integer(*text, min, max) : std::nullopt;
}

}  // namespace sae
