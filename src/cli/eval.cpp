// `sae eval`: the test-set metrics of a checkpoint, as a table or one JSON object.

#include <fmt/format.h>

#include "commands.hpp"
#include "sae/store/open_model.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/probe.hpp"

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
  bool probe = true;
  bool json = false;
};

void print_table(const EvalOptions& o, const OpenedModel& opened, const SparseLoss& loss,
                 const EvalMetrics& m, const std::optional<ProbeResult>& probe) {
  const std::string penalty = penalty_name(loss.penalty_kind());
  fmt::print("checkpoint          {} (epoch {})\n", o.source.checkpoint,
             opened.checkpoint.cursor.epoch);
  fmt::print("data                {}, test split, {} images\n", opened.data_dir, m.images);
  fmt::print("penalty, beta, rho  {}, {}, {}\n", penalty, loss.beta(), loss.rho());
  const MetricContext context{penalty, loss.rho()};
  for_each_metric(m, [&](const MetricSpec& spec, const auto& value) {
    if (spec.shown & kInEvalTable) {
      fmt::print("{:<20}{}\n", spec.label, format_metric(spec, value, context));
    }
  });
  if (probe) {
    fmt::print("linear probe        {:.2f}% test accuracy ({:.2f}% train, {:.1f} s)\n",
               100 * probe->test_accuracy, 100 * probe->train_accuracy, probe->seconds);
  }
  fmt::print("speed               {:.0f} images/s ({:.2f} s)\n", m.images_per_s, m.seconds);
}

int run_eval(const EvalOptions& o) {
  OpenedModel opened = open_model(o.source, o.compute);
  const RunConfig& trained = opened.checkpoint.config;
  const SparseLoss loss(o.beta.value_or(trained.beta), o.rho.value_or(trained.rho),
                        trained.penalty);
  const Dataset test = load_split(opened.data_dir, Split::kTest);
  const Evaluation evaluation =
      evaluate(opened.model, test, loss, o.batch_size, opened.device);  // metrics and codes
  std::optional<ProbeResult> probe;
  if (o.probe) {
    const Dataset train = load_split(opened.data_dir, Split::kTrain);
    probe = linear_probe(encode_all(opened.model, train, o.batch_size, opened.device), train.labels,
                         evaluation.codes, test.labels);
  }
  if (!o.json) {
    print_table(o, opened, loss, evaluation.metrics, probe);
    return 0;
  }
  nlohmann::json json = to_json(evaluation.metrics);
  json["checkpoint"] = o.source.checkpoint;
  json["data_dir"] = opened.data_dir;
  json["penalty"] = penalty_name(loss.penalty_kind());
  json["beta"] = loss.beta();
  json["rho"] = loss.rho();
  if (probe) {
    json["probe_accuracy"] = probe->test_accuracy;
    json["probe_train_accuracy"] = probe->train_accuracy;
  }
  std::cout << json.dump() << std::endl;
  return 0;
}

}  // namespace

Command setup_eval(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a checkpoint on the test set");
  add_source_options(*cmd, options->source);
  cmd->add_option("--beta", options->beta, "weight of the penalty (default: the checkpoint's)")
      ->check(kNonEmpty)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rho", options->rho, "target activation (default: the checkpoint's)")
      ->check(kNonEmpty)
      ->check(CLI::Range(0.0, 1.0));
  add_batch_size_option(*cmd, options->batch_size);
  add_compute_options(*cmd, options->compute);
  cmd->add_flag("--json", options->json, "print one JSON object instead of a table");
  cmd->add_flag("!--no-probe", options->probe, "skip the linear probe (saves a few seconds)");
  add_common_options(*cmd, common);
  return {cmd, [options] { return run_eval(*options); }};
}

}  // namespace sae::commands
