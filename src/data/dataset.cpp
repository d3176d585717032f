#include "sae/data/dataset.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <random>

namespace sae {
namespace {

std::string find_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path raw = fs::path(dir) / name;
  const fs::path gz = fs::path(dir) / (name + ".gz");
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(raw, ec)) return raw.string();
  throw DataError(fmt::format(
      "{}: missing {} (or {}.gz); run scripts/fetch-data.sh, or pass --data-dir", dir, name, name));
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) {
  IdxImages file = read_idx_image_file(path);
  return torch::from_blob(file.pixels.data(), {file.count, kImageSide, kImageSide}, torch::kUInt8)
      .clone();
}

torch::Tensor read_idx_labels(const std::string& path) {
  std::vector<uint8_t> labels = read_idx_label_file(path);
  return torch::from_blob(labels.data(), {static_cast<int64_t>(labels.size())}, torch::kUInt8)
      .to(torch::kInt64);
}
Dataset load_split(const std::string& dir, Split split) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw DataError(fmt::format(
        "{}: a file, not a data folder; pass the folder that holds the four IDX files", dir));
  }
  if (!fs::is_directory(dir, ec)) {
    throw DataError(fmt::format(
        "{}: data folder not found; run scripts/fetch-data.sh, or pass --data-dir", dir));
  }
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  Dataset data{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (data.images.size(0) != data.labels.size(0)) {
    throw DataError(fmt::format("{}: {} images but {} has {} labels", images_path,
                                data.images.size(0), labels_path, data.labels.size(0)));
  }
  if (data.size() == 0) throw DataError(fmt::format("{}: holds no images", images_path));
  return data;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // Fisher-Yates with our own index draw: std::shuffle and uniform_int_distribution are
  // implementation-defined, and runs must reproduce across standard libraries.
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

torch::Tensor to_float_batch(const torch::Tensor& images, const torch::Tensor& indices) {
  return to_float_batch(images.index_select(0, indices));
}

torch::Tensor to_float_batch(const torch::Tensor& images) {
  return images.unsqueeze(1).to(torch::kFloat32).div_(255.0);  // (B, 1, 28, 28)
}

}  // namespace sae
