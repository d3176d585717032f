// `sae reconstruct`: originals over their reconstructions, as one grid and optionally as pairs.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/analysis/reconstruct.hpp"
#include "sae/data/image.hpp"
#include "sae/data/user_images.hpp"
#include "sae/store/open_model.hpp"
#include "sae/store/run_folder.hpp"

#include <filesystem>
#include <optional>

namespace sae::commands {
namespace {

struct ReconstructOptions {
  CheckpointSource source;
  ComputeOptions compute;
  std::string out;
  Split split = Split::kTest;
  int64_t count = 16;
  bool pairs = false;  // also each original/reconstruction pair as its own PNG
  ImageInput images;
};

int run_reconstruct(const ReconstructOptions& o) {
  namespace fs = std::filesystem;
  const std::optional<UserImages> own = read_image_input(o.images);  // before any write
  OpenedModel opened = open_model(o.source, o.compute);
  const Dataset data = own ? own->data : load_split(opened.data_dir, o.split);
  fs::create_directories(o.out);
  const std::string grid_path = (fs::path(o.out) / kReconstructionsFile).string();
  const int64_t shown = own ? data.size() : o.count;  // all of the user's images
  write_png(grid_path, reconstruction_grid(opened.model, data, shown, opened.device));
  spdlog::info("wrote {}", grid_path);
  if (o.pairs) {
    const int64_t count = std::min(shown, data.size());
    for (int64_t i = 0; i < count; ++i) {
      const Dataset one{data.images.slice(0, i, i + 1), data.labels.slice(0, i, i + 1)};
      const std::string path = (fs::path(o.out) / pair_file_name(i)).string();
      write_png(path, reconstruction_grid(opened.model, one, 1, opened.device));
    }
    spdlog::info("wrote {} pair PNGs to {}", count, o.out);
  }
  return 0;
}

}  // namespace

Command setup_reconstruct(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<ReconstructOptions>();
  CLI::App* cmd = app.add_subcommand("reconstruct", "write originals over reconstructions as PNG");
  add_source_options(*cmd, options->source);
  cmd->add_option("--out", options->out, "folder for the PNGs")->required();
  cmd->add_option("--count", options->count, "how many images")
      ->check(kNonEmpty)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--split", options->split, "test or train")
      ->transform(CLI::CheckedTransformer(split_names(), CLI::ignore_case).description(""))
      ->type_name("{test,train}")
      ->default_str("test");
  cmd->add_flag("--pairs", options->pairs, "also write each pair as its own PNG");
  add_image_options(*cmd, options->images);
  add_compute_options(*cmd, options->compute);
  add_common_options(*cmd, common);
  return {cmd, [options] { return run_reconstruct(*options); }};
}

}  // namespace sae::commands
