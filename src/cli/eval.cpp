// `sae eval`: the test-set metrics of a checkpoint, as a table or one JSON object.

#include <fmt/format.h>

#include "commands.hpp"
#include "sae/base/errors.hpp"
#include "sae/store/open_model.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/probe.hpp"
#include "sae/train/run_config.hpp"
#include "sae/train/train.hpp"

#include <iostream>
#include <optional>

namespace sae::commands {
namespace {

struct EvalOptions {
  CheckpointSource source;
  ComputeOptions compute;
  std::optional<double> beta;  // default: the checkpoint's
  std::optional<double> rho;   // default: the checkpoint's
  int64_t batch_size = 600;
  bool no_probe = false;
  bool json = false;
};

/// The checkpoint's settings with --beta and --rho laid over them; refuses (UsageError) one that
/// its kind of code does not read.
RunConfig evaluated_settings(const EvalOptions& o, const RunConfig& trained) {
  RunConfig settings = trained;
  const auto apply = [&](const char* key, const std::optional<double>& given, double& field) {
    if (!given) return;
    if (!applies_to(key, trained.code)) {
      throw UsageError(fmt::format("{}, the code {} was trained with; drop --{}",
                                   does_not_apply(key, trained.code), o.source.checkpoint, key));
    }
    field = *given;
  };
  apply("beta", o.beta, settings.beta);
  apply("rho", o.rho, settings.rho);
  return settings;
}

void print_table(const EvalOptions& o, const OpenedModel& opened, const RunConfig& settings,
                 const EvalMetrics& m, const std::optional<ProbeResult>& probe,
                 const std::optional<ProbeResult>& pixels) {
  fmt::print("checkpoint          {} (epoch {})\n", o.source.checkpoint,
             opened.checkpoint.cursor.epoch);
  fmt::print("data                {}, test split, {} images\n", opened.data_dir, m.images);
  fmt::print("code                {}\n", code_settings(settings));
  const MetricContext context = metric_context(settings);
  for_each_metric(m, [&](const MetricSpec& spec, const auto& value) {
    if (spec.shown & kInEvalTable) {
      fmt::print("{:<20}{}\n", spec.label, format_metric(spec, value, context));
    }
  });
  if (probe && pixels) {
    fmt::print(
        "linear probe        {:.2f}% test accuracy ({:.2f}% train, {:.1f} s); raw pixels {:.2f}%\n",
        100 * probe->test_accuracy, 100 * probe->train_accuracy, probe->seconds,
        100 * pixels->test_accuracy);
  }
  fmt::print("speed               {:.0f} images/s ({:.2f} s)\n", m.images_per_s, m.seconds);
}

int run_eval(const EvalOptions& o) {
  OpenedModel opened = open_model(o.source, o.compute);
  const RunConfig settings = evaluated_settings(o, opened.checkpoint.config);
  const SparseLoss loss = run_loss(settings);
  const Dataset test = load_split(opened.data_dir, Split::kTest);
  const Evaluation evaluation =
      evaluate(opened.model, test, loss, o.batch_size, opened.device);  // metrics and codes
  std::optional<ProbeResult> probe, pixels;
  if (!o.no_probe && test.labelled()) {
    const Dataset train = load_split(opened.data_dir, Split::kTrain);
    const CodeAndPixelProbes probes = probe_code_and_pixels(
        opened.model, train, test, evaluation.codes, o.batch_size, opened.device);
    probe = probes.code;
    pixels = probes.pixels;  // the baseline the code's probe is read against
  }
  if (!o.json) {
    print_table(o, opened, settings, evaluation.metrics, probe, pixels);
    return 0;
  }
  nlohmann::json json = to_json(evaluation.metrics);
  json["checkpoint"] = o.source.checkpoint;
  json["data_dir"] = opened.data_dir;
  json["code"] = code_name(settings.code);
  json["penalty"] = penalty_name(effective_penalty(settings));
  json["beta"] = settings.beta;
  json["rho"] = settings.rho;
  if (probe && pixels) {
    json["probe_accuracy"] = probe->test_accuracy;
    json["probe_train_accuracy"] = probe->train_accuracy;
    json["pixel_probe_accuracy"] = pixels->test_accuracy;
  }
  std::cout << json.dump() << std::endl;
  return 0;
}

}  // namespace

Command setup_eval(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a checkpoint on the test set");
  add_source_options(*cmd, options->source);
  cmd->add_option("--beta", options->beta,
                  "weight of the penalty, sigmoid and relu codes (default: the checkpoint's)")
      ->check(kNonEmpty)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rho", options->rho,
                  "target activation, sigmoid codes (default: the checkpoint's)")
      ->check(kNonEmpty)
      ->check(CLI::Validator(
          [](std::string& value) {
            char* end = nullptr;
            const double rho = std::strtod(value.c_str(), &end);
            return *end == '\0' && rho > 0 && rho < 1 ? std::string()
                                                      : "must be strictly between 0 and 1";
          },
          "in (0, 1)", "open interval"));
  add_batch_size_option(*cmd, options->batch_size);
  add_compute_options(*cmd, options->compute);
  cmd->add_flag("--json", options->json, "print one JSON object instead of a table");
  // Not "!--no-probe" into a `probe` flag: CLI11 would print that one as "--no-probe{false}".
  cmd->add_flag("--no-probe", options->no_probe, "skip the linear probe (saves a few seconds)");
  add_common_options(*cmd, common);
  return {cmd, [options] { return run_eval(*options); }};
}

}  // namespace sae::commands
