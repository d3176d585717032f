// The table of code kinds and what is built from it: the names --code takes and its help, and the
// defaults a kind without a penalty of its own inherits.

#include <fmt/format.h>

#include "kinds.hpp"
#include "sae/base/errors.hpp"

#include <algorithm>

namespace sae {
namespace {

/// "sigmoid, relu, ... or jumprelu": each kind's `part`, joined as a sentence lists them.
template <typename Part>
std::string listed(Part part) {
  const auto& kinds = code_kinds();
  std::string out;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (i > 0) out += i + 1 < kinds.size() ? ", " : " or ";
    out += part(*kinds[i]);
  }
  return out;
}

}  // namespace

torch::Tensor Code::own_penalty(const torch::Tensor&, const CodeSpec&, const CodeTensors&) const {
  return {};
}

double Code::own_penalty_cpu(const float*, int64_t, const CodeSpec&, const CodeTensors&, float,
                             float*) const {
  return 0.0;
}

void kept_units_backward(const float* h, float* d, int64_t count) {
  for (int64_t i = 0; i < count; ++i) d[i] = h[i] > 0.0f ? d[i] : 0.0f;
}

const std::vector<const Code*>& code_kinds() {
  static const std::vector<const Code*> kinds = {&sigmoid_code(), &relu_code(), &topk_code(),
                                                 &batchtopk_code(), &jumprelu_code()};
  return kinds;
}

const Code& code_of(CodeKind kind) {
  const auto& kinds = code_kinds();
  const auto found = std::find_if(kinds.begin(), kinds.end(),
                                  [&](const Code* code) { return code->kind() == kind; });
  TORCH_CHECK(found != kinds.end(), "code_of: no kind for CodeKind ", static_cast<int>(kind));
  return **found;
}

CodeKind parse_code(const std::string& name) {
  for (const Code* code : code_kinds()) {
    if (name == code->name()) return code->kind();
  }
  throw UsageError(fmt::format("unknown code '{}': use {}", name,
                               listed([](const Code& code) { return code.name(); })));
}

std::string code_name(CodeKind kind) {
  return code_of(kind).name();
}

std::vector<std::string> names_of_kind(Penalty) {
  std::vector<std::string> names;
  for (const Sparsity* kind : sparsity_kinds()) names.emplace_back(kind->name());
  return names;
}

std::vector<std::string> names_of_kind(CodeKind) {
  std::vector<std::string> names;
  for (const Code* code : code_kinds()) names.emplace_back(code->name());
  return names;
}

const char* code_help() {
  static const std::string help = "how the code is made: " + listed([](const Code& code) {
                                    return fmt::format("{} ({})", code.name(), code.help());
                                  });
  return help.c_str();
}

}  // namespace sae
