// sae: the command line. Parses flags, dispatches to run_<command>, turns errors into exit codes.

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "sae/config.hpp"
#include "sae/eval.hpp"
#include "sae/inspect.hpp"
#include "sae/reconstruct.hpp"
#include "sae/sweep.hpp"
#include "sae/train.hpp"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

/// Flags every subcommand has.
struct CommonOptions {
  std::string log_level = "info";
  bool quiet = false;
};

void add_common_options(CLI::App* cmd, CommonOptions& common) {
  cmd->add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str()
      ->configurable(false);
  cmd->add_flag("-q,--quiet", common.quiet, "warnings and errors only, no progress")
      ->configurable(false);
}

void add_compute_options(CLI::App* cmd, std::string& device, int& threads) {
  cmd->add_option("--device", device, "auto, cpu, cuda or cuda:N (auto picks CUDA when present)")
      ->capture_default_str();
  cmd->add_option("--threads", threads, "CPU threads (0: one per core)")->capture_default_str();
}

/// The options `train` and `sweep` share (all but beta, rho and the run folder).
void add_training_options(CLI::App* cmd, sae::TrainOptions& o) {
  cmd->add_option("--epochs", o.epochs, "passes over the training set")->capture_default_str();
  cmd->add_option("--penalty", o.penalty, "what beta weighs: kl (the seed's), l1 or none")
      ->check(CLI::IsMember({"kl", "l1", "none"}))
      ->capture_default_str();
  cmd->add_option("--beta-warmup", o.beta_warmup, "steps over which beta ramps up from 0")
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "L2 on the weights (not the biases)")
      ->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "training images per step")->capture_default_str();
  cmd->add_option("--test-batch-size", o.test_batch_size, "images per evaluation pass")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of the initial weights and the data order")
      ->capture_default_str();
  cmd->add_option("--data-dir", o.data_dir, "folder with the four IDX files (.gz or raw)")
      ->capture_default_str();
  add_compute_options(cmd, o.device, o.threads);
}

void setup_logging(const CommonOptions& common) {
  auto logger = spdlog::stderr_color_mt("sae");
  logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(common.quiet ? spdlog::level::warn : spdlog::level::from_str(common.log_level));
}

/// One line on stderr; the rest of a LibTorch message is a backtrace.
int fail(int code, const std::string& message) {
  fmt::print(stderr, "sae: error: {}\n", message.substr(0, message.find('\n')));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "sae: train, evaluate and inspect a convolutional sparse autoencoder (MSE + beta * KL "
      "sparsity) on MNIST-format data"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sae 0.1.0");
  CommonOptions common;

  sae::TrainOptions train;
  bool print_config = false;
  auto* train_cmd = app.add_subcommand("train", "train a sparse autoencoder; writes a run folder");
  // CLI11 reads config files at the top level only, so --config lives there and `train` lets it
  // fall through; the file keeps train's options under a [train] section.
  app.set_config("--config", "", "TOML file with a [train] section; command-line flags win")
      ->check(CLI::ExistingFile)
      ->check(CLI::Validator(sae::toml_syntax_error, "TOML", "TOML"));
  app.allow_config_extras(CLI::config_extras_mode::error);
  train_cmd->fallthrough();
  train_cmd->footer(
      "  --config FILE               TOML file with a [train] section, e.g. configs/mnist.toml;\n"
      "                              command-line flags win over it");
  train_cmd->add_option("--beta", train.beta, "weight of the sparsity penalty")
      ->capture_default_str();
  train_cmd->add_option("--rho", train.rho, "target mean activation of each code unit, in (0, 1)")
      ->capture_default_str();
  add_training_options(train_cmd, train);
  train_cmd->add_option("--out", train.out, "run folder (default: runs/<date-time>)");
  train_cmd
      ->add_option("--resume", train.resume,
                   "continue RUN from its last checkpoint, with RUN/config.toml under the flags")
      ->configurable(false)
      ->check(CLI::ExistingDirectory)
      ->trigger_on_parse()
      ->each([&app](const std::string& run) {
        // The run's own configuration, read as if given with --config: flags still win.
        app.get_config_ptr()->add_result(run + "/config.toml");
      });
  train_cmd->add_flag("--force", train.force, "write into a run folder that already holds files")
      ->configurable(false);
  train_cmd->add_flag("--print-config", print_config, "print the resolved configuration and exit")
      ->configurable(false);
  add_common_options(train_cmd, common);

  sae::SweepOptions sweep;
  auto* sweep_cmd =
      app.add_subcommand("sweep", "train one run per (beta, rho); writes sweep.csv and sweep.png");
  sweep_cmd->add_option("--beta", sweep.betas, "beta values, e.g. 0,0.001,0.005,0.02")
      ->delimiter(',')
      ->required();
  sweep_cmd->add_option("--rho", sweep.rhos, "rho values, e.g. 0.01,0.05,0.1")
      ->delimiter(',')
      ->required();
  sweep_cmd->add_option("--out", sweep.out, "folder for the runs, sweep.csv and sweep.png")
      ->required();
  add_training_options(sweep_cmd, sweep.base);
  add_common_options(sweep_cmd, common);

  sae::InspectOptions inspect;
  auto* inspect_cmd = app.add_subcommand(
      "inspect", "draw what the code learned: units.png, activations.png, atoms.png, top.png");
  inspect_cmd->add_option("--checkpoint", inspect.checkpoint, "a run's model.pt")->required();
  inspect_cmd->add_option("--out", inspect.out, "folder for the PNGs")->required();
  inspect_cmd->add_option("--data-dir", inspect.data_dir,
                          "folder with the IDX files (default: the one it was trained on)");
  inspect_cmd->add_option("--batch-size", inspect.batch_size, "images per forward pass")
      ->capture_default_str();
  add_compute_options(inspect_cmd, inspect.device, inspect.threads);
  add_common_options(inspect_cmd, common);

  sae::EvalOptions eval;
  auto* eval_cmd = app.add_subcommand("eval", "evaluate a checkpoint on the test set");
  eval_cmd->add_option("--checkpoint", eval.checkpoint, "a run's model.pt")->required();
  eval_cmd->add_option("--data-dir", eval.data_dir,
                       "folder with the IDX files (default: the one it was trained on)");
  eval_cmd->add_option("--beta", eval.beta, "KL weight (default: the checkpoint's)");
  eval_cmd->add_option("--rho", eval.rho, "target activation (default: the checkpoint's)");
  eval_cmd->add_option("--batch-size", eval.batch_size, "images per forward pass")
      ->capture_default_str();
  add_compute_options(eval_cmd, eval.device, eval.threads);
  eval_cmd->add_flag("--json", eval.json, "print one JSON object instead of a table");
  eval_cmd->add_flag("!--no-probe", eval.probe, "skip the linear probe (saves a few seconds)");
  add_common_options(eval_cmd, common);

  sae::ReconstructOptions rec;
  auto* rec_cmd = app.add_subcommand("reconstruct", "write originals over reconstructions as PNG");
  rec_cmd->add_option("--checkpoint", rec.checkpoint, "a run's model.pt")->required();
  rec_cmd->add_option("--out", rec.out, "folder for the PNGs")->required();
  rec_cmd->add_option("--count", rec.count, "how many images")->capture_default_str();
  rec_cmd->add_option("--split", rec.split, "test or train")
      ->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  rec_cmd->add_option("--data-dir", rec.data_dir,
                      "folder with the IDX files (default: the one it was trained on)");
  rec_cmd->add_flag("--pairs", rec.pairs, "also write each pair as its own PNG");
  add_compute_options(rec_cmd, rec.device, rec.threads);
  add_common_options(rec_cmd, common);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommands().empty()) {
      return fail(kExitUsage,
                  fmt::format("unknown command '{}'; use train, eval, reconstruct, inspect or "
                              "sweep (sae --help)",
                              argv[1]));
    }
    return fail(kExitUsage, fmt::format("{} (see sae --help)", e.what()));
  }
  if (train_cmd->parsed() && app.get_subcommands().size() > 1) {
    return fail(kExitUsage, "--config is read by sae train only");
  }

  try {
    train.quiet = sweep.base.quiet = common.quiet;
    if (train_cmd->parsed() && print_config) {
      sae::validate(train);
      fmt::print("{}", sae::to_config_toml(train));
      return 0;
    }
    setup_logging(common);
    if (train_cmd->parsed()) return sae::run_train(train);
    if (sweep_cmd->parsed()) return sae::run_sweep(sweep);
    if (eval_cmd->parsed()) return sae::run_eval(eval);
    if (inspect_cmd->parsed()) return sae::run_inspect(inspect);
    return sae::run_reconstruct(rec);
  } catch (const std::invalid_argument& e) {
    return fail(kExitUsage, e.what());
  } catch (const c10::Error& e) {
    return fail(kExitFailure, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
}
