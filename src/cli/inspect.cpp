// `sae inspect`: pictures of what the sparse code learned, from one pass over the test set.

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/analysis/inspect.hpp"
#include "sae/store/file_names.hpp"
#include "sae/store/open_model.hpp"
#include "sae/train/eval.hpp"

#include <filesystem>

namespace sae::commands {
namespace {

struct InspectOptions {
  CheckpointSource source;
  ComputeOptions compute;
  std::string out;
  int64_t batch_size = 600;
};

int run_inspect(const InspectOptions& o) {
  OpenedModel opened = open_model(o.source, o.compute);
  const Dataset test = load_split(opened.data_dir, Split::kTest);
  const Evaluation evaluation =
      evaluate(opened.model, test, opened.loss, o.batch_size, opened.device);
  std::filesystem::create_directories(o.out);
  write_pictures(o.out, opened.model, test, evaluation, opened.checkpoint.config, opened.device);
  spdlog::info("wrote {}, {}, {}, {} and {} to {}", kReconstructionsFile, kUnitsFile,
               kActivationsFile, kAtomsFile, kTopFile, o.out);
  return 0;
}

}  // namespace

Command setup_inspect(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "draw what the code learned: reconstructions.png, units.png, activations.png, atoms.png, "
      "top.png");
  add_source_options(*cmd, options->source);
  cmd->add_option("--out", options->out, "folder for the PNGs")->required();
  add_batch_size_option(*cmd, options->batch_size);
  add_compute_options(*cmd, options->compute);
  add_common_options(*cmd, common);
  return {cmd, [options] { return run_inspect(*options); }};
}

}  // namespace sae::commands
