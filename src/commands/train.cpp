// `sae train`: Adam on MSE + beta * penalty into one run folder, resumable.

#include <fmt/format.h>
#include <toml++/toml.h>

#include "commands.hpp"
#include "sae/config.hpp"
#include "sae/device.hpp"
#include "sae/distributed.hpp"
#include "sae/errors.hpp"
#include "sae/idx.hpp"
#include "sae/run.hpp"
#include "sae/run_folder.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>

namespace sae::commands {
namespace {

struct TrainOptions {
  RunConfig config;
  std::string out;     // empty: runs/<date-time>
  std::string resume;  // run folder to continue
  bool force = false;
  bool print_config = false;
  int dist_timeout = 300;  // seconds a collective waits for the other ranks
};

/// CLI11's TOML reader, but skipping the UTF-8 byte-order mark that some editors write.
class ConfigWithoutBom : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::string text(std::istreambuf_iterator<char>(input), {});
    if (text.rfind(kUtf8Bom, 0) == 0) text.erase(0, std::strlen(kUtf8Bom));
    std::istringstream without_bom(text);
    return CLI::ConfigTOML::from_config(without_bom);
  }

 private:
  static constexpr const char* kUtf8Bom = "\xEF\xBB\xBF";
};

/// A positive integer from the environment, or `fallback` when it is unset or not one.
int env_int_or(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr) return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return (end != value && *end == '\0' && parsed >= 1 && parsed <= 1 << 16)
             ? static_cast<int>(parsed)
             : fallback;
}

bool same_folder(const std::string& a, const std::string& b) {
  return std::filesystem::path(a).lexically_normal() == std::filesystem::path(b).lexically_normal();
}

/// The `out` that a config.toml of the first format recorded; a run folder moved since then still
/// resumes, as that value reaches --out from the file, not from the user.
std::string out_in_old_config(const std::string& run) {
  try {
    const auto config = toml::parse_file((std::filesystem::path(run) / kConfigFile).string());
    return config["train"]["out"].value_or(std::string());
  } catch (const toml::parse_error&) {
    return "";
  }
}

int run_train(const TrainOptions& o, const CommonOptions& common) {
  validate(o.config);
  if (o.print_config) {
    fmt::print("{}", to_toml(o.config));
    return 0;
  }
  if (!o.resume.empty() && !o.out.empty() && !same_folder(o.out, o.resume) &&
      o.out != out_in_old_config(o.resume)) {
    throw UsageError(fmt::format(
        "--resume {} continues that folder in place; drop --out {} (to branch a run, copy its "
        "folder first)",
        o.resume, o.out));
  }
  if (!o.resume.empty()) check_resumable_folder(o.resume);
  // Started by torchrun or srun as one of several processes: a data-parallel run.
  const std::optional<LaunchEnv> launch = launch_env();
  int threads = o.config.threads;
  if (launch && threads == 0) {
    // The cores are shared by the ranks on this machine (torchrun may also set OMP_NUM_THREADS).
    const int local_ranks =
        env_int_or("LOCAL_WORLD_SIZE", env_int_or("SLURM_NTASKS_PER_NODE", launch->world_size));
    threads = env_int_or("OMP_NUM_THREADS", std::max(1, available_cores() / local_ranks));
  }
  torch::Device device = apply({o.config.device, threads});
  if (launch && device.is_cuda() && !device.has_index()) {
    // One GPU per rank on each machine: torchrun's LOCAL_RANK, or srun's SLURM_LOCALID.
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env_int_or(
                                             "LOCAL_RANK", env_int_or("SLURM_LOCALID", 0))));
  }
  ProcessGroup group;
  if (launch) {
    group = ProcessGroup::join(*launch, device, std::chrono::seconds(o.dist_timeout));
    if (!group.is_writer()) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for all
    spdlog::info("data-parallel: {} ranks (Gloo), global batch {} split across them",
                 group.world_size(), o.config.batch_size);
  }
  // Data first: a bad data folder must not leave an empty run folder behind.
  const Dataset train = load_split(o.config.data_dir, Split::kTrain);
  const Dataset test = load_split(o.config.data_dir, Split::kTest);
  const std::unique_ptr<Run> run = o.resume.empty()
                                       ? Run::create(o.config, o.out, o.force, device, group)
                                       : Run::resume(o.resume, o.config, device, group);
  return train_to_end(*run, train, test, default_progress_style(common.quiet));
}

}  // namespace

Command setup_train(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "train a sparse autoencoder; writes a run folder");
  // CLI11 reads config files at the top level only, so --config lives there and `train` lets it
  // fall through; the file keeps train's options under a [train] section.
  app.config_formatter(std::make_shared<ConfigWithoutBom>());
  app.set_config("--config", "", "TOML file with a [train] section; command-line flags win")
      ->check(CLI::ExistingFile)
      ->check(CLI::Validator(toml_syntax_error, "TOML", "TOML"))
      ->expected(1, 2);  // the second, if any, comes from --resume: refused in run_train
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
        // The run's own configuration, read as if given with --config: flags still win. A folder
        // without one is refused by the resume itself, with its reason.
        const std::string config = (std::filesystem::path(run) / kConfigFile).string();
        if (std::filesystem::exists(config)) app.get_config_ptr()->add_result(config);
      });
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
  return {cmd, [options, &common, &app] {
            if (app.get_config_ptr()->count() > 1) {  // two config files would mix two runs
              throw UsageError(options->resume.empty()
                                   ? "--config may be given once"
                                   : "--resume RUN reads RUN/config.toml; drop --config");
            }
            return run_train(*options, common);
          }};
}

}  // namespace sae::commands
