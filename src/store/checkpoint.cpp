#include "sae/store/checkpoint.hpp"

#include "sae/base/errors.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>
#include <zlib.h>
#include <nlohmann/json.hpp>

#include "sae/base/atomic_file.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/model/script.hpp"
#include "sae/store/file_names.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr int kFormat = 2;
constexpr const char* kArchitecture = "sae-conv-64";
// A reader retries when a commit lands while it reads; a run commits once an epoch (or when
// stopped), so losing that race this many times in a row means something rewrites it in a loop.
constexpr int kReadTries = 10;

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; a model is far below 4 GiB, but stay correct for any size.
  for (size_t at = 0; at < bytes.size(); at += (1u << 30)) {
    const size_t n = std::min<size_t>(bytes.size() - at, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

nlohmann::json describe_file(const std::string& name, const std::string& bytes) {
  return {{"name", name}, {"bytes", bytes.size()}, {"crc32", crc32_of(bytes)}};
}

/// The path and the bytes of the file `entry` names, read once and checked against its size and
/// CRC-32: the bytes that were checked are then the ones that load.
std::pair<std::string, std::string> verified_file(const fs::path& run, const nlohmann::json& entry,
                                                  const std::string& manifest) {
  const auto name = entry.at("name").get<std::string>();
  if (name.find('/') != std::string::npos || !is_checkpoint_file_name(name)) {
    throw CheckpointError(fmt::format("{}: names '{}', not a checkpoint file", manifest, name));
  }
  const std::string path = (run / name).string();
  const auto expected_bytes = entry.at("bytes").get<uint64_t>();
  const auto expected_crc = entry.at("crc32").get<uint32_t>();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw CheckpointError(fmt::format(
        "{}: names {}, which is missing; the run folder was damaged (files deleted or copied in "
        "part): copy the whole folder again, or start over with --force",
        manifest, path));
  }
  // A file of another size is damaged whatever it holds: no need to read a huge one to say so.
  if (const auto size = fs::file_size(path, ec); !ec && size != expected_bytes) {
    throw CheckpointError(fmt::format(
        "{}: {} has {} bytes, expected {}: the file was damaged; copy the run folder again, or "
        "start over with --force",
        manifest, path, size, expected_bytes));
  }
  std::string bytes = read_file(path);
  const uint32_t crc = crc32_of(bytes);
  if (bytes.size() != expected_bytes || crc != expected_crc) {
    throw CheckpointError(fmt::format(
        "{}: {} has {} bytes with CRC-32 {:08x}, expected {} bytes with CRC-32 {:08x}: the file "
        "was damaged; copy the run folder again, or start over with --force",
        manifest, path, bytes.size(), crc, expected_bytes, expected_crc));
  }
  return {path, std::move(bytes)};
}

/// The checkpoint that the manifest text `text` (read from `manifest`) describes.
Checkpoint parse_manifest(const std::string& text, const fs::path& run, const std::string& manifest,
                          bool verify_files) {
  const auto json = nlohmann::json::parse(text);
  const int format = json.at("format").get<int>();
  if (format != kFormat) {
    throw CheckpointError(
        fmt::format("{}: format {}, but this sae reads format {}: use the sae that wrote it",
                    manifest, format, kFormat));
  }
  if (json.at("architecture").get<std::string>() != kArchitecture) {
    throw CheckpointError(fmt::format("{}: architecture '{}', expected '{}'", manifest,
                                      json.at("architecture").get<std::string>(), kArchitecture));
  }
  Checkpoint c;
  c.config = json.at("config").get<RunConfig>();
  c.cursor = json.at("cursor").get<TrainCursor>();
  const auto& files = json.at("files");
  for (auto [path, bytes, key] : {std::tuple{&c.model_path, &c.model_bytes, "model"},
                                  {&c.optimizer_path, &c.optimizer_bytes, "optimizer"}}) {
    if (verify_files) {
      auto [verified_path, verified_bytes] = verified_file(run, files.at(key), manifest);
      *path = std::move(verified_path);
      *bytes = std::move(verified_bytes);
    } else {
      *path = (run / files.at(key).at("name").get<std::string>()).string();
    }
  }
  validate(c.cursor, c.config, manifest);
  return c;
}

/// The text of `path`, or nullopt when it cannot be read (gone, among others).
std::optional<std::string> text_if_readable(const std::string& path) {
  try {
    return read_file(path);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// The whole of a file to load; failing to read it is a CheckpointError like the others.
std::string read_file_to_load(const std::string& path) {
  try {
    return read_file(path);
  } catch (const std::runtime_error& e) {
    throw CheckpointError(e.what());
  }
}

/// The first line of what `error` says, without LibTorch's backtrace.
std::string error_line(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) {
    return first_line(torch_error->what_without_backtrace());
  }
  return first_line(error.what());
}

/// The tensors a model file holds, by name ("enc1.weight"), onto the CPU (a checkpoint saved
/// from a GPU must load where there is none). This sae writes a TorchScript module; older ones
/// wrote torch::save's weights-only archive, which LibTorch 1.13 also writes as TorchScript but
/// newer LibTorch as a pickled dict that only torch::load reads: that is the fallback, into a
/// model of kind `code` whose tensors are then the file's (reshaped to what it holds).
std::map<std::string, torch::Tensor> tensors_of_model_file(const std::string& bytes,
                                                           const std::string& model_path,
                                                           const CodeSpec& code) {
  std::map<std::string, torch::Tensor> tensors;
  std::string script_error;
  try {
    std::istringstream in(bytes);
    const torch::jit::Module module = torch::jit::load(in, torch::Device(torch::kCPU));
    for (const auto& attribute : module.named_attributes(/*recurse=*/true)) {
      if (attribute.value.isTensor()) tensors.emplace(attribute.name, attribute.value.toTensor());
    }
    return tensors;
  } catch (const std::exception& e) {  // c10::Error, and TorchScript's compile errors
    script_error = error_line(e);
  }
  SparseAutoencoder loaded(code);
  try {
    std::istringstream in(bytes);
    torch::load(loaded, in, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    const std::string weights_error = error_line(e);
    throw CheckpointError(fmt::format(
        "{}: not a readable sae model: {}", model_path,
        weights_error == script_error
            ? script_error
            : fmt::format("{} (read as weights only: {})", script_error, weights_error)));
  }
  for (const auto& p : loaded->named_parameters()) tensors.emplace(p.key(), p.value());
  for (const auto& b : loaded->named_buffers()) tensors.emplace(b.key(), b.value());
  return tensors;
}

/// A model of kind `code` from the bytes of a model file (named `model_path` in messages), onto
/// `device`.
SparseAutoencoder model_from_bytes(const std::string& bytes, const std::string& model_path,
                                   const torch::Device& device, const CodeSpec& code) {
  SparseAutoencoder model(code);
  const auto found = tensors_of_model_file(bytes, model_path, code);
  struct Wanted {
    std::string name;
    torch::Tensor tensor;
    const char* what;
  };
  std::vector<Wanted> wanted;
  for (const auto& p : model->named_parameters()) {
    wanted.push_back({p.key(), p.value(), "parameter"});
  }
  for (const auto& b : model->named_buffers()) wanted.push_back({b.key(), b.value(), "buffer"});
  // Every name first, then every shape: a file of another architecture is told apart from one
  // of other shapes under the same names, which torch::load would silently take.
  for (const Wanted& w : wanted) {
    if (found.count(w.name) == 0) {
      throw CheckpointError(fmt::format(
          "{}: not a readable sae model: it has no tensor {}, which a model of code {} has; is it "
          "a file of another architecture or kind of code?",
          model_path, w.name, code_name(code.kind)));
    }
  }
  for (const Wanted& w : wanted) {
    const auto shape = w.tensor.sizes().vec();
    const auto found_shape = found.at(w.name).sizes().vec();
    if (found_shape != shape) {
      throw CheckpointError(fmt::format(
          "{}: {} {} has shape [{}], expected [{}]: a checkpoint of another architecture",
          model_path, w.what, w.name, fmt::join(found_shape, ", "), fmt::join(shape, ", ")));
    }
  }
  torch::NoGradGuard no_grad;
  for (const Wanted& w : wanted) w.tensor.copy_(found.at(w.name));
  model->to(device);
  return model;
}

/// Fills `optimizer` from the bytes of an optimizer file (named `optimizer_path` in messages).
void optimizer_from_bytes(const std::string& bytes, const std::string& optimizer_path,
                          torch::optim::Adam& optimizer) {
  try {
    std::istringstream in(bytes);
    torch::load(optimizer, in);
  } catch (const c10::Error& e) {
    throw CheckpointError(fmt::format("{}: not a readable optimizer state: {}", optimizer_path,
                                      first_line(e.what_without_backtrace())));
  }
}

}  // namespace

std::string serialize_model(const SparseAutoencoder& model) {
  // Into memory, not a file: the archive's inner folder is then always "archive" (from a file it
  // takes the file's name), and a full disk fails in our checked writer, not in LibTorch's.
  std::ostringstream out;
  script_module(*model).save(out);
  return out.str();
}

void save_checkpoint(const std::string& run_dir, SparseAutoencoder& model,
                     torch::optim::Adam& optimizer, const RunConfig& config,
                     const TrainCursor& cursor) {
  const fs::path run(run_dir);
  const std::string model_bytes = serialize_model(model);
  std::ostringstream optimizer_out;
  torch::save(optimizer, optimizer_out);
  const std::string optimizer_bytes = optimizer_out.str();
  const std::string model_name = step_file_name("model", cursor.steps);
  const std::string optimizer_name = step_file_name("optimizer", cursor.steps);

  nlohmann::json manifest = {
      {"format", kFormat},
      {"architecture", kArchitecture},
      {"config", config},
      {"cursor", cursor},
      {"files",
       {{"model", describe_file(model_name, model_bytes)},
        {"optimizer", describe_file(optimizer_name, optimizer_bytes)}}},
  };
  const CommitSection commit;  // a second Ctrl-C waits until the commit is complete
  // Same step, same state: a commit that names these files is already on disk, and rewriting
  // them in place would briefly break it.
  const auto committed = find_checkpoint(run_dir, /*verify_files=*/false);  // names suffice
  if (!committed || committed->model_path != (run / model_name).string()) {
    write_file_atomically((run / model_name).string(), model_bytes);
    write_file_atomically((run / optimizer_name).string(), optimizer_bytes);
  }
  write_file_atomically((run / kManifestFile).string(), manifest.dump(2) + '\n');
  write_file_atomically((run / kModelFile).string(), model_bytes);
  remove_stale_checkpoint_files(run_dir);
}

std::optional<Checkpoint> find_checkpoint(const std::string& run_dir, bool verify_files) {
  const fs::path run(run_dir);
  const std::string manifest = (run / kManifestFile).string();
  for (int attempt = 1;; ++attempt) {
    std::error_code ec;
    if (!fs::exists(manifest, ec)) return std::nullopt;
    std::optional<std::string> text;  // as read, for telling a lost race from damage
    // A training run commits while we read: it removes the files of the commit we read only
    // after its new manifest is in place, so a failure with the manifest changed meanwhile is a
    // race lost to that commit, to read again; with the manifest unchanged, it is damage.
    const auto lost_race = [&] {
      if (text_if_readable(manifest) == text) return false;
      if (attempt < kReadTries) return true;
      throw CheckpointError(fmt::format(
          "{}: a newer commit replaced it during each of {} reads, expected at most a few: "
          "something rewrites it without pause; read it again once that stops",
          manifest, kReadTries));
    };
    try {
      text = read_file(manifest);
      return parse_manifest(*text, run, manifest, verify_files);
    } catch (const CheckpointError&) {
      if (lost_race()) continue;
      throw;
    } catch (const std::exception& e) {  // JSON errors, out-of-range values, unreadable files
      if (lost_race()) continue;
      throw CheckpointError(fmt::format("{}: {}", manifest, first_line(e.what())));
    }
  }
}

Checkpoint read_checkpoint(const std::string& run_dir, bool verify_files) {
  auto checkpoint = find_checkpoint(run_dir, verify_files);
  if (!checkpoint) {
    throw CheckpointError(
        fmt::format("{}: no checkpoint ({} is missing); pass a run folder or its model.pt, e.g. "
                    "runs/<date-time>/model.pt",
                    run_dir, kManifestFile));
  }
  return std::move(*checkpoint);
}

std::string run_dir_of(const std::string& checkpoint_argument) {
  std::error_code ec;
  if (fs::is_directory(checkpoint_argument, ec)) return checkpoint_argument;
  if (!fs::exists(checkpoint_argument, ec)) {
    throw CheckpointError(
        fmt::format("{}: no such file or folder; pass a run folder or its model.pt, e.g. "
                    "runs/<date-time>/model.pt",
                    checkpoint_argument));
  }
  const fs::path parent = fs::path(checkpoint_argument).parent_path();
  return parent.empty() ? "." : parent.string();
}

void remove_stale_checkpoint_files(const std::string& run_dir) {
  const auto committed = find_checkpoint(run_dir, /*verify_files=*/false);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool named = committed && (entry.path().string() == committed->model_path ||
                                     entry.path().string() == committed->optimizer_path);
    if ((is_checkpoint_file_name(name) && !named) || is_temporary_file_name(name)) {
      fs::remove(entry.path(), ec);
    }
  }
}

SparseAutoencoder load_model(const std::string& model_path, const torch::Device& device,
                             const CodeSpec& code) {
  std::error_code ec;
  if (!fs::is_regular_file(model_path, ec)) {
    throw CheckpointError(fmt::format("{}: no such model file", model_path));
  }
  return model_from_bytes(read_file_to_load(model_path), model_path, device, code);
}

SparseAutoencoder load_model(const Checkpoint& checkpoint, const torch::Device& device) {
  const CodeSpec code = code_spec(checkpoint.config);
  if (!checkpoint.model_bytes) return load_model(checkpoint.model_path, device, code);
  return model_from_bytes(*checkpoint.model_bytes, checkpoint.model_path, device, code);
}

void load_optimizer(const std::string& optimizer_path, torch::optim::Adam& optimizer) {
  optimizer_from_bytes(read_file_to_load(optimizer_path), optimizer_path, optimizer);
}

void load_optimizer(const Checkpoint& checkpoint, torch::optim::Adam& optimizer) {
  if (!checkpoint.optimizer_bytes) return load_optimizer(checkpoint.optimizer_path, optimizer);
  optimizer_from_bytes(*checkpoint.optimizer_bytes, checkpoint.optimizer_path, optimizer);
}

}  // namespace sae
