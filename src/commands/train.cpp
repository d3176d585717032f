// `sae train`: Adam on MSE + beta * penalty into one run folder, resumable.

#include <fmt/format.h>

#include "commands.hpp"
#include "sae/config.hpp"
#include "sae/device.hpp"
#include "sae/errors.hpp"
#include "sae/idx.hpp"
#include "sae/run.hpp"
#include "sae/run_folder.hpp"

#include <filesystem>
#include <memory>

namespace sae::commands {
namespace {

struct TrainOptions {
  RunConfig config;
  std::string out;     // empty: runs/<date-time>
  std::string resume;  // run folder to continue
  bool force = false;
  bool print_config = false;
};

int run_train(const TrainOptions& o, const CommonOptions& common) {
  validate(o.config);
  if (o.print_config) {
    fmt::print("{}", to_toml(o.config));
    return 0;
  }
  if (!o.resume.empty() && !o.out.empty() &&
      std::filesystem::path(o.out).lexically_normal() !=
          std::filesystem::path(o.resume).lexically_normal()) {
    throw UsageError(fmt::format(
        "--resume {} continues that folder in place; drop --out {} (to branch a run, copy its "
        "folder first)",
        o.resume, o.out));
  }
  const torch::Device device = apply({o.config.device, o.config.threads});
  // Data first: a bad data folder must not leave an empty run folder behind.
  const Dataset train = load_split(o.config.data_dir, Split::kTrain);
  const Dataset test = load_split(o.config.data_dir, Split::kTest);
  const std::unique_ptr<Run> run = o.resume.empty()
                                       ? Run::create(o.config, o.out, o.force, device)
                                       : Run::resume(o.resume, o.config, device);
  return train_to_end(*run, train, test, default_progress_style(common.quiet));
}

}  // namespace

Command setup_train(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "train a sparse autoencoder; writes a run folder");
  // CLI11 reads config files at the top level only, so --config lives there and `train` lets it
  // fall through; the file keeps train's options under a [train] section.
  app.set_config("--config", "", "TOML file with a [train] section; command-line flags win")
      ->check(CLI::ExistingFile)
      ->check(CLI::Validator(toml_syntax_error, "TOML", "TOML"));
  app.allow_config_extras(CLI::config_extras_mode::error);
  cmd->fallthrough();
  cmd->footer(
      "  --config FILE               TOML file with a [train] section, e.g. configs/mnist.toml;\n"
      "                              command-line flags win over it");
  add_run_config_options(*cmd, options->config, {});
  cmd->add_option("--out", options->out, "run folder (default: runs/<date-time>)");
  cmd->add_option("--resume", options->resume,
                  "continue RUN from its last checkpoint, with RUN/config.toml under the flags")
      ->configurable(false)
      ->check(CLI::ExistingDirectory)
      ->trigger_on_parse()
      ->each([&app](const std::string& run) {
        const std::string config = (std::filesystem::path(run) / kConfigFile).string();
        if (app.get_config_ptr()->count() > 0) {
          throw CLI::ValidationError(
              "--resume", "reads " + config + " as its config file; drop --config");
        }
        // The run's own configuration, read as if given with --config: flags still win. A folder
        // without one is refused by the resume itself, with its reason.
        if (std::filesystem::exists(config)) app.get_config_ptr()->add_result(config);
      });
  cmd->add_flag("--force", options->force, "start over a run folder that already holds a run")
      ->configurable(false);
  cmd->add_flag("--print-config", options->print_config,
                "print the resolved configuration and exit")
      ->configurable(false);
  add_common_options(*cmd, common);
  return {cmd, [options, &common] { return run_train(*options, common); }};
}

}  // namespace sae::commands
