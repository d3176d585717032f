#include "sae/train/metrics.hpp"

#include <fmt/format.h>

#include "sae/model/model.hpp"

#include <limits>

namespace sae {
namespace {

template <typename T>
std::string format_line(const MetricSpec& spec, T value, const MetricContext& context) {
  return fmt::format(fmt::runtime(spec.format), value) +
         fmt::format(fmt::runtime(spec.note), fmt::arg("penalty", context.penalty),
                     fmt::arg("rho", context.rho), fmt::arg("units", kCodeSize),
                     fmt::arg("threshold", context.threshold), fmt::arg("code", context.code),
                     fmt::arg("far", kFarFactor));
}

}  // namespace

MetricContext metric_context(const RunConfig& config) {
  return {penalty_name(effective_penalty(config)), config.rho,
          code_of(config.code).active_threshold(), code_name(config.code)};
}

std::string code_settings(const RunConfig& config) {
  const Penalty penalty = effective_penalty(config);
  std::string text = "code " + code_name(config.code);
  switch (config.code) {
    case CodeKind::kSigmoid:
      text += fmt::format(", penalty {}", penalty_name(penalty));
      if (penalty != Penalty::kNone) text += fmt::format(", beta {}", config.beta);
      if (penalty == Penalty::kKl) text += fmt::format(", rho {}", config.rho);
      break;
    case CodeKind::kRelu:
      text += fmt::format(", penalty {}, beta {}", penalty_name(penalty), config.beta);
      break;
    case CodeKind::kTopK:
    case CodeKind::kBatchTopK:
      text += fmt::format(", k {}", config.k);
      break;
    case CodeKind::kJumpRelu:
      text += fmt::format(", lambda {}, bandwidth {}", config.l0_coef, config.bandwidth);
      break;
  }
  // What keeps the units alive, where the kind has it.
  if (applies_to("aux-coef", config.code) && config.aux_coef > 0 && config.aux_k > 0) {
    text += fmt::format(", AuxK k {} coef {}", config.aux_k, config.aux_coef);
  }
  if (config.resample_every > 0) {
    text += fmt::format(", resampled every {} steps", config.resample_every);
  }
  return text;
}

std::string format_metric(const MetricSpec& spec, double value, const MetricContext& context) {
  return format_line(spec, value, context);
}

std::string format_metric(const MetricSpec& spec, int64_t value, const MetricContext& context) {
  return format_line(spec, value, context);
}

nlohmann::json to_json(const EvalMetrics& metrics) {
  nlohmann::json json;
  for_each_metric(metrics,
                  [&](const MetricSpec& spec, const auto& value) { json[spec.key] = value; });
  json["rho_hat"] = metrics.rho_hat;
  json["unit_kl"] = metrics.unit_kl;
  json["max_activation"] = metrics.max_activation;
  return json;
}

void from_json(const nlohmann::json& json, EvalMetrics& metrics) {
  for_each_metric(metrics, [&](const MetricSpec& spec, auto& value) {
    using T = std::remove_reference_t<decltype(value)>;
    const auto it = json.find(spec.key);
    // nlohmann writes NaN as null; a double written before this metric existed is absent.
    if constexpr (std::is_floating_point_v<T>) {
      value = it == json.end() || it->is_null() ? std::numeric_limits<T>::quiet_NaN()
                                                : it->template get<T>();
    } else {
      value = json.at(spec.key).template get<T>();
    }
  });
  metrics.rho_hat = json.at("rho_hat").get<std::vector<double>>();
  metrics.unit_kl = json.at("unit_kl").get<std::vector<double>>();
  metrics.max_activation = json.at("max_activation").get<std::vector<double>>();
}

}  // namespace sae
