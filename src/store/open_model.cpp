#include "sae/store/open_model.hpp"

#include <fmt/format.h>

#include "sae/train/train.hpp"

#include <filesystem>

namespace sae {

OpenedModel open_model(const CheckpointSource& source, const ComputeOptions& compute) {
  const torch::Device device = resolve_device(compute.device);
  set_threads(compute.threads);
  // A folder means its committed model; a file means that file, with its folder's settings.
  std::error_code ec;
  const bool file_given = std::filesystem::is_regular_file(source.checkpoint, ec);
  Checkpoint checkpoint = read_checkpoint(run_dir_of(source.checkpoint), !file_given);
  if (file_given) checkpoint.model_path = source.checkpoint;
  SparseAutoencoder model = load_model(checkpoint, device);
  if (!all_finite(model)) {
    throw CheckpointError(fmt::format(
        "{}: holds NaN or infinite weights; evaluate an earlier checkpoint of the run instead",
        checkpoint.model_path));
  }
  const SparseLoss loss = run_loss(checkpoint.config);
  std::string data_dir = source.data_dir.empty() ? checkpoint.config.data_dir : source.data_dir;
  return {device, std::move(model), std::move(checkpoint), loss, std::move(data_dir)};
}

}  // namespace sae
