#pragma once
// A checkpoint: model and optimizer files under step-tagged names, committed together by one
// manifest, checkpoint.json, that names them with their sizes and CRC-32s. A crash at any moment
// leaves the previous commit or the new one, never a mix.

#include <torch/torch.h>

#include "sae/model/model.hpp"
#include "sae/train/run_config.hpp"

#include <optional>
#include <stdexcept>
#include <string>

namespace sae {

/// A checkpoint that cannot be read; the message names the file, what is wrong and what to do.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A committed checkpoint, as its manifest describes it.
struct Checkpoint {
  RunConfig config;
  TrainCursor cursor;
  std::string model_path;      ///< the model file the manifest names (verified)
  std::string optimizer_path;  ///< the optimizer file the manifest names (verified)
  /// What verification read of those two files, absent without it (reset them with the paths).
  /// Loading these, not the files again, keeps model and cursor of one commit, as a newer commit
  /// removes the files at any moment.
  std::optional<std::string> model_bytes;
  std::optional<std::string> optimizer_bytes;
};

/// Commits model, optimizer, config and cursor into `run_dir` as one unit: writes
/// model-STEP.pt and optimizer-STEP.pt, then checkpoint.json by atomic rename, then model.pt
/// (the latest model, for other tools), and only then removes the files of older commits. The
/// model files are TorchScript modules that PyTorch runs as they are (serialize_model).
void save_checkpoint(const std::string& run_dir, SparseAutoencoder& model,
                     torch::optim::Adam& optimizer, const RunConfig& config,
                     const TrainCursor& cursor);

/// Reads the checkpoint committed in `run_dir`, and the files it names, verified, unless told not
/// to; nullopt when none was committed yet. A commit that lands meanwhile is read instead, so a
/// run that is training reads as healthy.
std::optional<Checkpoint> find_checkpoint(const std::string& run_dir, bool verify_files = true);

/// find_checkpoint, but a missing checkpoint is a CheckpointError too.
Checkpoint read_checkpoint(const std::string& run_dir, bool verify_files = true);

/// The run folder that a --checkpoint argument means: RUN itself, or the folder of RUN/model.pt.
std::string run_dir_of(const std::string& checkpoint_argument);

/// Removes the files of older commits that a crash left behind (step files the manifest does not
/// name, temporary files); call with the run folder locked.
void remove_stale_checkpoint_files(const std::string& run_dir);

/// Loads a model file, a model of code `code`, onto `device`, checking every tensor's name and
/// shape: the TorchScript module this sae writes, or the weights-only archive (torch::save) of
/// an older one.
SparseAutoencoder load_model(const std::string& model_path, const torch::Device& device,
                             const CodeSpec& code = {});
/// Loads a checkpoint's model as load_model does, of the kind of code its config names, from the
/// bytes verified when there are some.
SparseAutoencoder load_model(const Checkpoint& checkpoint, const torch::Device& device);
/// Loads an optimizer file into `optimizer`.
void load_optimizer(const std::string& optimizer_path, torch::optim::Adam& optimizer);
/// Loads a checkpoint's optimizer state, from the bytes verified when there are some.
void load_optimizer(const Checkpoint& checkpoint, torch::optim::Adam& optimizer);

/// The model's bytes as model.pt holds them: its TorchScript module (script.hpp), whose
/// torch.jit.load(path)(x) runs in plain PyTorch. The archive's inner name and class names are
/// fixed and the tensors are CPU copies, so identical weights give identical bytes on any device.
std::string serialize_model(const SparseAutoencoder& model);

}  // namespace sae
