#include "sae/base/toml_file.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include "sae/base/atomic_file.hpp"
#include "sae/base/errors.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string_view>
#include <tuple>

namespace sae {
namespace {

// sae's own settings are ~15 keys, one level deep, in ~300 bytes: these leave room for comments
// and any hand-written file, while a parser at these bounds costs kilobytes.
constexpr size_t kMaxConfigBytes = 64 * 1024;
constexpr int kMaxConfigDepth = 8;
constexpr int kMaxConfigKeys = 256;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

/// The file's bytes, refusing one larger than kMaxConfigBytes before reading it.
std::string read_bounded(const std::string& path) {
  std::error_code ec;  // a FIFO or device has no size: read_file refuses it
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxConfigBytes) {
    throw UsageError(
        fmt::format("{}: a TOML config of more than {} bytes; sae's settings fit in a few hundred",
                    path, kMaxConfigBytes));
  }
  try {
    std::string text = read_file(path);
    if (text.size() > kMaxConfigBytes) {  // it grew since the check
      throw UsageError(
          fmt::format("{}: a TOML config of more than {} bytes", path, kMaxConfigBytes));
    }
    return text;
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
}

/// Bounds the nesting depth and the number of keys of TOML text lexically, strings and comments
/// skipped, so that no parser ever builds a hostile file: toml++ limits nested arrays, but not
/// dotted keys ([a.a.a...]), whose tables it would build and tear down recursively. Depth counts
/// the open brackets and the dots of the key being read; every key has one '=' and every table
/// header one '['. Conservative: a well-formed file never counts less than its real depth.
void check_toml_shape(std::string_view text, const std::string& path) {
  int line = 1, column = 0, keys = 0, key_dots = 0;
  bool at_key = true;  // reading a key or a table header, not a value
  std::string open;    // the brackets open here, innermost last
  const auto fail = [&](const std::string& what) {
    throw UsageError(fmt::format("{}:{}:{}: TOML: {}", path, line, column, what));
  };
  const auto advance = [&](size_t& i) {  // past text[i], keeping line and column
    if (text[i] == '\n') {
      ++line;
      column = 0;
    } else {
      ++column;
    }
    ++i;
  };
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '"' || c == '\'') {  // a string: nothing in it counts
      const bool triple = text.substr(i, 3) == std::string(3, c);
      const size_t quote_length = triple ? 3 : 1;
      for (size_t k = 0; k < quote_length; ++k) advance(i);
      while (i < text.size() && !(text.substr(i, quote_length) == std::string(quote_length, c))) {
        if (c == '"' && text[i] == '\\' && i + 1 < text.size()) advance(i);
        if (!triple && text[i] == '\n') break;  // unterminated: the parser says so
        advance(i);
      }
      for (size_t k = 0; k < quote_length && i < text.size(); ++k) advance(i);
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') advance(i);
      continue;
    }
    advance(i);
    switch (c) {
      case '\n':
        if (open.empty()) at_key = true, key_dots = 0;
        break;
      case '[':
        if (at_key && open.empty() && ++keys > kMaxConfigKeys) {
          fail(fmt::format("more than {} keys and tables", kMaxConfigKeys));
        }
        open += c;
        break;
      case '{':
        open += c;
        at_key = true, key_dots = 0;  // an inline table's keys follow
        break;
      case ']':
      case '}':
        if (!open.empty()) open.pop_back();  // an unbalanced one is the parser's to report
        break;
      case ',':
        if (!open.empty() && open.back() == '{') at_key = true, key_dots = 0;
        break;
      case '=':
        at_key = false;
        if (++keys > kMaxConfigKeys)
          fail(fmt::format("more than {} keys and tables", kMaxConfigKeys));
        break;
      case '.':
        if (at_key) ++key_dots;
        break;
      default:
        break;
    }
    if (static_cast<int>(open.size()) + key_dots > kMaxConfigDepth) {
      fail(
          fmt::format("nested more than {} levels deep; sae's settings are one level deep, in "
                      "[train]",
                      kMaxConfigDepth));
    }
  }
}

std::string where(const std::string& path, const toml::source_region& source) {
  return fmt::format("{}:{}:{}", path, source.begin.line, source.begin.column);
}

/// A plain value as the text a flag would take.
std::string value_text(const toml::node& node) {
  if (const auto* text = node.as_string()) return text->get();
  if (const auto* number = node.as_integer()) return std::to_string(number->get());
  if (const auto* number = node.as_floating_point()) return fmt::format("{}", number->get());
  if (const auto* flag = node.as_boolean()) return flag->get() ? "true" : "false";
  std::ostringstream out;  // dates and times, as written
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

}  // namespace

std::vector<ConfigSetting> read_config_file(const std::string& path) {
  std::string text = read_bounded(path);
  if (std::string_view(text).substr(0, kUtf8Bom.size()) == kUtf8Bom) {
    text.erase(0, kUtf8Bom.size());  // some editors write one
  }
  check_toml_shape(text, path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}: TOML: {}", where(path, e.source()), e.description()));
  }

  std::vector<std::pair<toml::source_position, ConfigSetting>> settings;
  const auto add = [&](const std::string& section, const toml::key& key, const toml::node& node) {
    ConfigSetting setting{section, std::string(key.str()), {}, where(path, key.source())};
    const auto plain = [&](const toml::node& value) {
      if (value.is_table() || value.is_array()) {
        throw UsageError(
            fmt::format("{}: TOML: {} holds a table or a nested list; sae's "
                        "settings are plain values",
                        setting.where, setting.key));
      }
      setting.values.push_back(value_text(value));
    };
    if (const auto* list = node.as_array()) {
      for (const auto& element : *list) plain(element);
    } else {
      plain(node);
    }
    settings.emplace_back(key.source().begin, std::move(setting));
  };
  for (const auto& [key, node] : root) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      add("", key, node);
      continue;
    }
    for (const auto& [inner_key, inner_node] : *table) {
      if (inner_node.is_table()) {
        throw UsageError(
            fmt::format("{}: TOML: [{}.{}]: sae's settings are one level deep, in "
                        "[train]",
                        where(path, inner_key.source()), key.str(), inner_key.str()));
      }
      add(std::string(key.str()), inner_key, inner_node);
    }
  }
  // toml++ keeps a table's keys sorted; messages and precedence read better in file order.
  std::sort(settings.begin(), settings.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.line, a.first.column) < std::tie(b.first.line, b.first.column);
  });
  std::vector<ConfigSetting> in_file_order;
  for (auto& [position, setting] : settings) in_file_order.push_back(std::move(setting));
  return in_file_order;
}

}  // namespace sae
