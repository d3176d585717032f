// `sae encode`: the sparse code of every image of a split, as NumPy arrays for other tools.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/base/atomic_file.hpp"
#include "sae/data/npy.hpp"
#include "sae/data/user_images.hpp"
#include "sae/store/open_model.hpp"
#include "sae/train/eval.hpp"

#include <filesystem>
#include <optional>

namespace sae::commands {
namespace {

struct EncodeOptions {
  CheckpointSource source;
  ComputeOptions compute;
  std::string out;
  Split split = Split::kTest;
  ImageInput images;
};

/// `name` as one line of files.txt: a backslash as \\, a newline as \n, control bytes as \xNN.
std::string escape_line(const std::string& name) {
  std::string line;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      line += "\\\\";
    } else if (c == '\n') {
      line += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      line += fmt::format("\\x{:02x}", c);
    } else {
      line += ch;
    }
  }
  return line;
}

int run_encode(const EncodeOptions& o) {
  namespace fs = std::filesystem;
  const std::optional<UserImages> own = read_image_input(o.images);  // before any write
  OpenedModel opened = open_model(o.source, o.compute);
  const Dataset data = own ? own->data : load_split(opened.data_dir, o.split);
  const torch::Tensor codes =
      encode_all(opened.model, data, opened.checkpoint.config.test_batch_size,
                 opened.device);  // (N, 64) float, in file order
  fs::create_directories(o.out);
  // The other mode's file would not match this codes.npy's rows.
  fs::remove(fs::path(o.out) / (own ? "labels.npy" : "files.txt"));
  write_npy((fs::path(o.out) / "codes.npy").string(), codes);
  if (own) {
    std::string list;
    // Escaped so that row i is line i whatever bytes a file name holds.
    for (const std::string& file : own->files) list += escape_line(file) + "\n";
    write_file_atomically((fs::path(o.out) / "files.txt").string(), list);
    spdlog::info("wrote {}/codes.npy ({} x {}, float32) and {}/files.txt", o.out, codes.size(0),
                 codes.size(1), o.out);
  } else if (!data.labelled() || data.num_classes > 256) {  // labels.npy holds uint8
    spdlog::info("wrote {}/codes.npy ({} x {}, float32); the data has no labels to write{}", o.out,
                 codes.size(0), codes.size(1),
                 data.labelled() ? " as uint8 (over 256 classes)" : "");
  } else {
    write_npy((fs::path(o.out) / "labels.npy").string(), data.labels.to(torch::kUInt8));  // (N)
    spdlog::info("wrote {}/codes.npy ({} x {}, float32) and {}/labels.npy ({}, uint8)", o.out,
                 codes.size(0), codes.size(1), o.out, data.size());
  }
  return 0;
}

}  // namespace

Command setup_encode(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<EncodeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "encode", "write the code of every image as NumPy arrays: codes.npy (N, 64), labels.npy");
  add_source_options(*cmd, options->source);
  cmd->add_option("--out", options->out, "folder for codes.npy and labels.npy")->required();
  cmd->add_option("--split", options->split, "test or train")
      ->transform(CLI::CheckedTransformer(split_names(), CLI::ignore_case).description(""))
      ->type_name("{test,train}")
      ->default_str("test");
  add_image_options(*cmd, options->images);
  add_compute_options(*cmd, options->compute);
  add_common_options(*cmd, common);
  return {cmd, [options] { return run_encode(*options); }};
}

}  // namespace sae::commands
