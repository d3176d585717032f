#include "sae/store/file_names.hpp"

#include <fmt/format.h>

#include "sae/train/run_config.hpp"

#include <regex>

namespace sae {

std::string pair_file_name(int64_t index) {
  return fmt::format("pair_{:04}.png", index);
}

bool is_pair_file_name(const std::string& name) {
  static const std::regex pair(R"(pair_[0-9]+\.png)");
  return std::regex_match(name, pair);
}

std::string unit_atom_file_name(int64_t unit) {
  return fmt::format("unit-{:02}-atom.png", unit);
}

std::string unit_top_file_name(int64_t unit) {
  return fmt::format("unit-{:02}-top.png", unit);
}

std::string shard_log_file_name(int64_t index, int64_t count) {
  return fmt::format("sweep-shard-{}-of-{}.log", index, count);
}

std::string step_file_name(const char* stem, int64_t steps) {
  return fmt::format("{}-{:08}.pt", stem, steps);
}

bool is_checkpoint_file_name(const std::string& name) {
  static const std::regex step_file(R"((model|optimizer)-[0-9]{8,}\.pt)");
  return std::regex_match(name, step_file);
}

std::string sweep_point_name(const RunConfig& config) {
  // "{}" is the shortest text that reads back as the same double, so equal values name one
  // folder, and a number can only give digits, '.', 'e', '-' and '+': never a path.
  if (config.code == CodeKind::kSigmoid) {
    return fmt::format("beta={}_rho={}", config.beta, config.rho);  // sweeps before --code
  }
  // The settings sae sweep takes lists of (sweep_folder.hpp), where they apply to the code.
  std::string name = code_name(config.code);
  if (applies_to("beta", config.code)) name += fmt::format("_beta{}", config.beta);
  if (applies_to("rho", config.code)) name += fmt::format("_rho{}", config.rho);
  if (applies_to("k", config.code)) name += fmt::format("_k{}", config.k);
  if (applies_to("l0-coef", config.code)) name += fmt::format("_l0coef{}", config.l0_coef);
  return name;
}

}  // namespace sae
