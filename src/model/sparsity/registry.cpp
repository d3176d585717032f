// The table of sparsity kinds and what is built from it: the names --penalty takes and its help.

#include <fmt/format.h>

#include "kinds.hpp"
#include "sae/model/kind_table.hpp"

namespace sae {

const std::vector<const Sparsity*>& sparsity_kinds() {
  static const std::vector<const Sparsity*> kinds = {&kl_kind(), &l1_kind(), &none_kind()};
  return kinds;
}

const Sparsity& sparsity_of(Penalty penalty) {
  return entry_of(sparsity_kinds(), penalty);
}

Penalty parse_penalty(const std::string& name) {
  return entry_named(sparsity_kinds(), name, "penalty").kind();
}

std::string penalty_name(Penalty penalty) {
  return sparsity_of(penalty).name();
}

const char* penalty_help() {
  static const std::string help =
      "what beta weighs: " + listed(sparsity_kinds(), [](const Sparsity& kind) {
        return fmt::format("{} ({})", kind.name(), kind.help());
      });
  return help.c_str();
}

}  // namespace sae
