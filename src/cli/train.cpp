// `sae train`: Adam on MSE + beta * penalty into one run folder, resumable.

#include <fmt/format.h>

#include "commands.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/toml_file.hpp"
#include "sae/data/dataset.hpp"
#include "sae/run/run.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/train/device.hpp"
#include "sae/train/distributed.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

namespace sae::commands {
namespace {

struct TrainOptions {
  RunConfig config;
  std::string out;          // empty: runs/<date-time>
  std::string resume;       // run folder to continue
  std::string config_file;  // --config
  bool force = false;
  bool print_config = false;
  int dist_timeout = 300;                        // seconds a collective waits for the other ranks
  std::set<std::string> given;                   // the settings the command line gave
  std::map<std::string, std::string> from_file;  // setting -> "PATH:LINE:COLUMN" it came from
};

bool same_folder(const std::string& a, const std::string& b) {
  return std::filesystem::path(a).lexically_normal() == std::filesystem::path(b).lexically_normal();
}

/// Sets each option of `cmd` that the config file at `path` names, unless the command line gave
/// it: flags win. Read with the options' own conversions and checks, as if typed.
void apply_config_file(const std::string& path, CLI::App& cmd,
                       std::map<std::string, std::string>& from_file) {
  for (const ConfigSetting& setting : read_config_file(path)) {
    if (setting.section != "train") {
      throw UsageError(fmt::format(
          "{}: TOML: '{}' sits {}; sae train reads its settings from a [train] section",
          setting.where, setting.key,
          setting.section.empty() ? "outside any table" : "in [" + setting.section + "]"));
    }
    CLI::Option* option = cmd.get_option_no_throw("--" + setting.key);
    if (option == nullptr || !option->get_configurable()) {
      throw UsageError(
          fmt::format("{}: TOML: '{}' is not a setting of sae train (sae train "
                      "--help lists them)",
                      setting.where, setting.key));
    }
    if (option->count() > 0) continue;
    from_file[setting.key] = setting.where;
    try {
      option->add_result(setting.values);
      option->run_callback();
    } catch (const CLI::Error& e) {
      throw UsageError(fmt::format("{}: {}: {}", setting.where, setting.key, e.what()));
    }
  }
}

/// Points a worker that torchrun restarted (--max-restarts) at the run its launch began in --out:
/// the launch's run id, recorded there by the first attempt, says it is this launch's. The same
/// command line then continues it from the last commit, as --resume would. False when there is
/// nothing left to do: the run had finished before the restart.
bool continue_restarted_launch(TrainOptions& o, const std::optional<ElasticAttempt>& attempt) {
  if (!attempt || attempt->max_restarts == 0) return true;
  if (o.out.empty() && o.resume.empty()) {
    throw UsageError(
        "under torchrun --max-restarts, name the run folder with --out: a restarted worker "
        "continues the run in it");
  }
  if (attempt->run_id.empty() || attempt->run_id == "none") {
    throw UsageError(
        "under torchrun --max-restarts, give the launch its own --rdzv_id (e.g. the job id): "
        "the default, 'none', is every launch's, so a restarted worker could not tell this "
        "launch's run folder from another's");
  }
  if (attempt->restart_count == 0 || o.out.empty() || !o.resume.empty()) return true;
  if (read_launch_record(o.out) != attempt->run_id) return true;  // not this launch's: a new run
  const std::filesystem::path out(o.out);
  if (std::filesystem::exists(out / kSummaryFile)) {
    spdlog::info("torchrun restart {}: {} had finished; nothing to do", attempt->restart_count,
                 o.out);
    return false;
  }
  if (std::filesystem::exists(out / kConfigFile)) {
    spdlog::info("torchrun restart {}: continuing {} from its last checkpoint",
                 attempt->restart_count, o.out);
    o.resume = o.out;
    o.config_file.clear();  // the run's config.toml is what it gave
  } else {
    o.force = true;  // killed before its first file: this launch's folder, started over
  }
  return true;
}

int run_train(const TrainOptions& o, const CommonOptions& common) {
  check_given_settings_apply(o.given, o.config.code);
  validate(o.config);
  if (o.print_config) {
    fmt::print("{}", to_toml(o.config));
    return 0;
  }
  if (!o.resume.empty() && !o.out.empty() && !same_folder(o.out, o.resume)) {
    throw UsageError(fmt::format(
        "--resume {} continues that folder in place; drop --out {} (to branch a run, copy its "
        "folder first)",
        o.resume, o.out));
  }
  if (!o.resume.empty()) check_resumable_folder(o.resume);
  // Started by torchrun or srun as one of several processes: a data-parallel run.
  const std::optional<LaunchEnv> launch = launch_env();
  torch::Device device = resolve_device(o.config.device);
  set_threads(launch ? rank_threads(*launch, o.config.threads) : o.config.threads);
  ProcessGroup group;
  if (launch) {
    device = rank_device(*launch, device);
    group = ProcessGroup::join(*launch, device, std::chrono::seconds(o.dist_timeout));
    // Every rank reads the folder it resumes: one that does not see it would train from scratch.
    group.check_same_on_every_rank(
        o.resume.empty() ? 0 : 1,
        "resuming (1) or not (0) (a run folder that some hosts do not see? put it on a "
        "filesystem every host shares)");
    if (!group.is_writer()) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for all
    spdlog::info("data-parallel: {} ranks ({}), global batch {} split across them",
                 group.world_size(), group.backend(), o.config.batch_size);
    if (!group.network().empty()) spdlog::info("data-parallel: Gloo on {}", group.network());
  }
  // Data first: a bad data folder must not leave an empty run folder behind.
  const RunData data = [&] {
    try {
      const Dataset train = load_split(o.config.data_dir, Split::kTrain);
      const Dataset test = load_split(o.config.data_dir, Split::kTest);
      return split_run_data(train, test, o.config);
    } catch (const DataError& e) {
      const auto where = o.from_file.find("data-dir");
      if (where == o.from_file.end()) throw;
      throw DataError(fmt::format(
          "{} (data-dir came from {}; a relative folder there is read from the current folder, "
          "{}, not the file's)",
          e.what(), where->second, std::filesystem::current_path().string()));
    }
  }();
  const std::optional<ElasticAttempt> attempt = elastic_attempt();
  const std::unique_ptr<Run> run =
      o.resume.empty()
          ? Run::create(o.config, o.out, o.force, device, group, attempt ? attempt->run_id : "")
          : Run::resume(o.resume, o.config, device, group);
  return train_to_end(*run, data, default_progress_style(common.quiet));
}

}  // namespace

Command setup_train(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "train a sparse autoencoder; writes a run folder");
  // --config lives at the top level, so that `sae --config FILE train` reads as it always did;
  // train lets it fall through. The file is read in the command's callback (apply_config_file).
  app.add_option("--config", options->config_file,
                 "TOML file with a [train] section; command-line flags win")
      ->type_name("FILE")
      ->check(CLI::ExistingFile)
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw)  // two files would mix two runs
      ->configurable(false)
      ->group("");  // hidden from `sae --help`: train's own help names it (the footer below)
  cmd->fallthrough();
  cmd->footer(
      "  --config FILE               TOML file with a [train] section, e.g. configs/mnist.toml;\n"
      "                              command-line flags win over it");
  add_run_config_options(*cmd, options->config, {});
  cmd->add_option("--out", options->out, "run folder (default: runs/<date-time>)")
      ->check(kNonEmpty);
  cmd->add_option("--resume", options->resume,
                  "continue RUN from its last checkpoint, with RUN/config.toml under the flags")
      ->configurable(false)
      ->check(kNonEmpty)
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--force", options->force, "start over a run folder that already holds a run")
      ->configurable(false);
  cmd->add_option("--dist-timeout", options->dist_timeout,
                  "data-parallel runs (torchrun, srun): seconds a rank waits for the others "
                  "before it gives up with an error")
      ->check(CLI::Range(1, 86400))
      ->configurable(false);
  cmd->add_flag("--print-config", options->print_config,
                "print the resolved configuration and exit")
      ->configurable(false);
  add_common_options(*cmd, common);
  return {cmd, [options, &common, cmd] {
            options->given = given_settings(*cmd);
            if (!continue_restarted_launch(*options, elastic_attempt())) return 0;
            if (!options->resume.empty()) {
              if (!options->config_file.empty()) {
                throw UsageError("--resume RUN reads RUN/config.toml; drop --config");
              }
              // The run's own configuration, read as if given with --config: flags still win. A
              // folder without one is refused by the resume itself, with its reason.
              const auto config = std::filesystem::path(options->resume) / kConfigFile;
              if (std::filesystem::exists(config)) {
                apply_config_file(config.string(), *cmd, options->from_file);
              }
            } else if (!options->config_file.empty()) {
              apply_config_file(options->config_file, *cmd, options->from_file);
            }
            return run_train(*options, common);
          }};
}

}  // namespace sae::commands
