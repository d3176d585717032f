#include "sae/store/file_names.hpp"

#include <fmt/format.h>

#include <charconv>
#include <regex>

namespace sae {
namespace {

constexpr const char* kBetaPrefix = "beta=";
constexpr const char* kRhoInfix = "_rho=";

}  // namespace

std::string pair_file_name(int64_t index) {
  return fmt::format("pair_{:04}.png", index);
}

bool is_pair_file_name(const std::string& name) {
  static const std::regex pair(R"(pair_[0-9]+\.png)");
  return std::regex_match(name, pair);
}

std::string step_file_name(const char* stem, int64_t steps) {
  return fmt::format("{}-{:08}.pt", stem, steps);
}

bool is_checkpoint_file_name(const std::string& name) {
  static const std::regex step_file(R"((model|optimizer)-[0-9]{8,}\.pt)");
  return std::regex_match(name, step_file);
}

std::string sweep_point_name(double beta, double rho) {
  // "{}" is the shortest text that reads back as the same double, so equal values name one
  // folder, and a number can only give digits, '.', 'e', '-' and '+': never a path.
  return fmt::format("{}{}{}{}", kBetaPrefix, beta, kRhoInfix, rho);
}

std::optional<std::pair<double, double>> parse_sweep_point_name(const std::string& name) {
  const std::string prefix = kBetaPrefix;
  const size_t infix = name.find(kRhoInfix);
  if (name.rfind(prefix, 0) != 0 || infix == std::string::npos) return std::nullopt;
  double beta = 0.0, rho = 0.0;
  const char* beta_end = name.data() + infix;
  const char* rho_begin = beta_end + std::char_traits<char>::length(kRhoInfix);
  const char* rho_end = name.data() + name.size();
  const auto b = std::from_chars(name.data() + prefix.size(), beta_end, beta);
  const auto r = std::from_chars(rho_begin, rho_end, rho);
  if (b.ec != std::errc() || b.ptr != beta_end || r.ec != std::errc() || r.ptr != rho_end) {
    return std::nullopt;
  }
  // Only the one spelling sweep_point_name gives: "beta=5e-3_rho=0.01" names no grid point.
  if (sweep_point_name(beta, rho) != name) return std::nullopt;
  return std::make_pair(beta, rho);
}

}  // namespace sae
