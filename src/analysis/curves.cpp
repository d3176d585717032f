#include "sae/analysis/curves.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sae/plot/charts.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace sae {
namespace {

// Three panels side by side: each smaller than a lone chart, with the same text.
constexpr int kPanelWidth = 600, kPanelHeight = 480;

// What the loss adds to the MSE for `config`'s code, e.g. {"β·KL(ρ‖ρ̂)"}, {"λ·L0", "AuxK"}.
std::vector<std::string> added_terms(const RunConfig& config) {
  std::vector<std::string> terms;
  switch (effective_penalty(config)) {
    case Penalty::kKl:
      terms.emplace_back("β·KL(ρ‖ρ̂)");
      break;
    case Penalty::kL1:
      terms.emplace_back("β·L1");
      break;
    case Penalty::kNone:
      break;
  }
  if (config.code == CodeKind::kJumpRelu && config.l0_coef > 0) terms.emplace_back("λ·L0");
  // AuxK weighs in training only: the scored loss leaves it out.
  if (applies_to("aux-coef", config.code) && config.aux_coef > 0 && config.aux_k > 0) {
    terms.emplace_back("AuxK (train only)");
  }
  return terms;
}

bool any_finite(const Series& s) {
  return std::any_of(s.y.begin(), s.y.end(), [](double v) { return std::isfinite(v); });
}

}  // namespace

void plot_loss_curves(const std::string& path, const std::vector<EpochMetrics>& rows,
                      const RunConfig& config) {
  const bool validation = !rows.empty() && rows.back().on_validation;
  // A train value is a mean over the epoch's steps, as the weights moved: it belongs to the
  // epoch's middle. The scored value is of the weights at the epoch's end.
  const std::string train_label = "train (epoch mean)";
  const std::string scored_label =
      std::string(validation ? "validation" : "test") + " (end of epoch)";
  const auto series = [&](const std::function<double(const EpochMetrics&)>& train,
                          const std::function<double(const EpochMetrics&)>& scored) {
    Series t{train_label, {}, {}}, s{scored_label, {}, {}};
    for (const EpochMetrics& r : rows) {
      t.x.push_back(static_cast<double>(r.epoch) - 0.5);
      t.y.push_back(train(r));
      s.x.push_back(static_cast<double>(r.epoch));
      s.y.push_back(scored(r));
    }
    return std::vector<Series>{t, s};
  };
  const Axis epochs{"epoch", Scale::kLinear, 0.0, /*integers=*/true};
  const auto panel = [&](const std::string& title, const std::string& y,
                         std::vector<Series> lines) {
    LinePanel p{{title, epochs, {y}, kPanelWidth, kPanelHeight}, std::move(lines), false};
    return p;
  };

  std::vector<LinePanel> panels;
  panels.push_back(panel("Loss, as training minimises it", "loss",
                         series([](const EpochMetrics& r) { return r.train_loss; },
                                [](const EpochMetrics& r) { return r.test.loss; })));
  panels.push_back(panel("MSE (mean squared pixel error)", "MSE",
                         series([](const EpochMetrics& r) { return r.train_mse; },
                                [](const EpochMetrics& r) { return r.test.mse; })));
  const std::vector<std::string> terms = added_terms(config);
  if (!terms.empty()) {
    panels.push_back(panel(fmt::format("What the loss adds: {}", fmt::join(terms, " + ")),
                           "loss − MSE",
                           series([](const EpochMetrics& r) { return r.train_loss - r.train_mse; },
                                  [](const EpochMetrics& r) { return r.test.loss - r.test.mse; })));
  }
  // A file from before a column holds NaN there: its panel goes, the others stay. The loss,
  // recorded since the first file, stays whatever it holds: plot_line_panels says what is wrong.
  panels.erase(std::remove_if(panels.begin() + 1, panels.end(),
                              [](const LinePanel& p) {
                                return std::none_of(p.series.begin(), p.series.end(), any_finite);
                              }),
               panels.end());
  panels.front().legend = true;  // the colours are the same in every panel
  plot_line_panels(path, panels);
}

}  // namespace sae
