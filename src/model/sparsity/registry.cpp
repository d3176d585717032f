// The table of sparsity kinds and what is built from it: the names --penalty takes and its help.

#include <fmt/format.h>

#include "kinds.hpp"
#include "sae/base/errors.hpp"

#include <algorithm>

namespace sae {
namespace {

/// "kl, l1 or none": each kind's `part`, joined as a sentence lists them.
template <typename Part>
std::string listed(Part part) {
  const auto& kinds = sparsity_kinds();
  std::string out;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (i > 0) out += i + 1 < kinds.size() ? ", " : " or ";
    out += part(*kinds[i]);
  }
  return out;
}

}  // namespace

const std::vector<const Sparsity*>& sparsity_kinds() {
  static const std::vector<const Sparsity*> kinds = {&kl_kind(), &l1_kind(), &none_kind()};
  return kinds;
}

const Sparsity& sparsity_of(Penalty penalty) {
  const auto& kinds = sparsity_kinds();
  const auto found = std::find_if(kinds.begin(), kinds.end(),
                                  [&](const Sparsity* kind) { return kind->kind() == penalty; });
  TORCH_CHECK(found != kinds.end(), "sparsity_of: no kind for Penalty ", static_cast<int>(penalty));
  return **found;
}

Penalty parse_penalty(const std::string& name) {
  for (const Sparsity* kind : sparsity_kinds()) {
    if (name == kind->name()) return kind->kind();
  }
  throw UsageError(fmt::format("unknown penalty '{}': use {}", name,
                               listed([](const Sparsity& kind) { return kind.name(); })));
}

std::string penalty_name(Penalty penalty) {
  return sparsity_of(penalty).name();
}

const char* penalty_help() {
  static const std::string help = "what beta weighs: " + listed([](const Sparsity& kind) {
                                    return fmt::format("{} ({})", kind.name(), kind.help());
                                  });
  return help.c_str();
}

}  // namespace sae
