#pragma once
// Config files (`sae train --config`, a run's config.toml): read once, by toml++, after bounding
// what a file may cost, so that a small hostile file cannot take the machine's memory.

#include <string>
#include <vector>

namespace sae {

/// One `key = value` of a config file.
struct ConfigSetting {
  std::string section;              ///< the table it sits in: "train", or "" at the top level
  std::string key;                  ///< e.g. "epochs"
  std::vector<std::string> values;  ///< its value as text; one per element of an array
  std::string where;                ///< "PATH:LINE:COLUMN", for messages
};

/// The settings of the TOML file `path`, in file order. Refuses (UsageError, naming
/// PATH:LINE:COLUMN where there is one) a file over 64 KiB, nested deeper than 8 levels or with
/// more than 256 keys, before any parser sees it; then malformed TOML, and values that are
/// tables or hold them. A UTF-8 byte-order mark is skipped.
std::vector<ConfigSetting> read_config_file(const std::string& path);

}  // namespace sae
