// sae: the command line. Assembles the subcommands, parses, dispatches, turns errors into exit
// codes.

#include <c10/util/Logging.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/interrupt.hpp"

#include <vector>

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

/// LibTorch's own log lines (a failed join's socket warnings, glog's "Logging before
/// InitGoogleLogging") would print before sae's one line: shown at --log-level debug or trace only.
void quiet_libtorch_logging(bool verbose) {
#ifdef C10_USE_GLOG  // Debian's LibTorch logs through glog; pip's through c10's own logger
  if (!google::IsGoogleLoggingInitialized()) google::InitGoogleLogging("sae");
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = verbose ? google::GLOG_INFO : google::GLOG_FATAL;
#else
  FLAGS_caffe2_log_level = verbose ? 0 : 3;  // INFO : FATAL
#endif
}

void setup_logging(const sae::commands::CommonOptions& common) {
  auto logger = spdlog::stderr_color_mt("sae");
  logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(common.quiet ? spdlog::level::warn : spdlog::level::from_str(common.log_level));
  quiet_libtorch_logging(spdlog::get_level() <= spdlog::level::debug);
}

/// One line on stderr; the rest of a LibTorch message is a backtrace.
int fail(int code, const std::string& message) {
  fmt::print(stderr, "sae: error: {}\n", sae::first_line(message));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  sae::install_signal_thread();  // before LibTorch starts a thread: they all inherit the mask

  CLI::App app{
      "sae: train, evaluate and inspect a convolutional sparse autoencoder (MSE + beta * KL "
      "sparsity) on MNIST-format data"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sae " SAE_VERSION);
  sae::commands::CommonOptions common;
  common.argv.assign(argv, argv + argc);
  const std::vector<sae::commands::Command> commands = {
      sae::commands::setup_train(app, common),  sae::commands::setup_sweep(app, common),
      sae::commands::setup_eval(app, common),   sae::commands::setup_reconstruct(app, common),
      sae::commands::setup_encode(app, common), sae::commands::setup_report(app, common),
      sae::commands::setup_inspect(app, common)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommands().empty()) {
      return fail(kExitUsage,
                  fmt::format("unknown command '{}'; use train, eval, reconstruct, inspect, "
                              "encode, report or sweep (sae --help)",
                              argv[1]));
    }
    return fail(kExitUsage, fmt::format("{} (see sae --help)", e.what()));
  }
  if (app.get_option("--config")->count() > 0 && !app.get_subcommand("train")->parsed()) {
    return fail(kExitUsage, "--config is read by sae train only");
  }

  try {
    setup_logging(common);
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return fail(kExitUsage, "no command given (sae --help)");
  } catch (const sae::UsageError& e) {
    return fail(kExitUsage, e.what());
  } catch (const c10::Error& e) {
    return fail(kExitFailure, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
}
