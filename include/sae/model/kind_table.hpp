#pragma once
// What the two tables of kinds (penalties, sparsity.hpp; codes, code.hpp) build alike from their
// entries: a sentence listing them, the entry of a value and the entry of a name.

#include <fmt/format.h>
#include <torch/torch.h>

#include "sae/base/errors.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace sae {

/// "a, b or c": `part` of each entry of `table`, joined as a sentence lists them.
template <typename Entry, typename Part>
std::string listed(const std::vector<const Entry*>& table, Part part) {
  std::string out;
  for (size_t i = 0; i < table.size(); ++i) {
    if (i > 0) out += i + 1 < table.size() ? ", " : " or ";
    out += part(*table[i]);
  }
  return out;
}

/// The entry of `table` whose kind() is `kind`; an invariant, as every enum value has one.
template <typename Entry, typename Kind>
const Entry& entry_of(const std::vector<const Entry*>& table, Kind kind) {
  const auto found = std::find_if(table.begin(), table.end(),
                                  [&](const Entry* entry) { return entry->kind() == kind; });
  TORCH_CHECK(found != table.end(), "no entry for kind ", static_cast<int>(kind));
  return **found;
}

/// The entry of `table` named `name`; throws UsageError "unknown WHAT 'NAME': use a, b or c".
template <typename Entry>
const Entry& entry_named(const std::vector<const Entry*>& table, const std::string& name,
                         const char* what) {
  for (const Entry* entry : table) {
    if (name == entry->name()) return *entry;
  }
  throw UsageError(fmt::format("unknown {} '{}': use {}", what, name,
                               listed(table, [](const Entry& entry) { return entry.name(); })));
}

}  // namespace sae
