// The table of code kinds and what is built from it: the names --code takes and its help, and the
// defaults a kind without a penalty of its own inherits.

#include <fmt/format.h>

#include "kinds.hpp"
#include "sae/model/kind_table.hpp"

namespace sae {

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
  return entry_of(code_kinds(), kind);
}

CodeKind parse_code(const std::string& name) {
  return entry_named(code_kinds(), name, "code").kind();
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
  static const std::string help =
      "how the code is made: " + listed(code_kinds(), [](const Code& code) {
        return fmt::format("{} ({})", code.name(), code.help());
      });
  return help.c_str();
}

}  // namespace sae
