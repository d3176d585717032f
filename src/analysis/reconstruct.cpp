#include "sae/analysis/reconstruct.hpp"

#include <fmt/format.h>

#include "sae/data/image_size.hpp"
#include "sae/model/inference.hpp"

#include <utility>

namespace sae {
namespace {

constexpr int kMaxColumns = 16;
constexpr int kPadding = 2;
constexpr int kScale = 3;  // 28 px digits are too small to judge at 1:1

GrayImage blank_tile() {
  return {kImageSide, kImageSide, std::vector<uint8_t>(kImageSide * kImageSide, 0)};
}

/// The first `count` images of `data` and their reconstructions, both (N, 1, 28, 28) in [0, 1].
std::pair<torch::Tensor, torch::Tensor> reconstruct(SparseAutoencoder& model, const Dataset& data,
                                                    int64_t count, const torch::Device& device) {
  const auto originals = to_float_batch(data.images.slice(0, 0, count)).to(device);  // (N,1,28,28)
  return {originals, Inference(model, device).forward(originals).reconstruction};
}

}  // namespace

GrayImage reconstruction_grid(SparseAutoencoder& model, const Dataset& data, int64_t count,
                              const torch::Device& device) {
  count = std::min(count, data.size());
  const auto [originals, reconstructions] = reconstruct(model, data, count, device);
  const int64_t columns = std::min<int64_t>(count, kMaxColumns);
  std::vector<GrayImage> tiles;
  for (int64_t row_start = 0; row_start < count; row_start += columns) {
    for (const auto* batch : {&originals, &reconstructions}) {
      for (int64_t i = row_start; i < row_start + columns; ++i) {
        // A short last row is padded with blank tiles so the grid stays rectangular.
        tiles.push_back(i < count ? to_gray_image((*batch)[i]) : blank_tile());
      }
    }
  }
  return tile_grid(tiles, static_cast<int>(columns), kPadding, kScale);
}

TileGrid reconstruction_picture(SparseAutoencoder& model, const Dataset& data, int64_t count,
                                const torch::Device& device) {
  count = std::min(count, data.size());
  const auto [originals, reconstructions] = reconstruct(model, data, count, device);
  // (N): each image's mean squared error over its pixels, as the loss's MSE is over the batch's.
  const auto mse = (reconstructions - originals).pow(2).mean({1, 2, 3}).to(torch::kCPU);
  const int64_t columns = std::min<int64_t>(count, kMaxColumns);
  TileGrid grid;
  grid.subtitle =
      "under each reconstruction: its MSE, the mean squared error of its pixels (in [0, 1])";
  grid.columns = static_cast<int>(columns);
  grid.scale = kScale;
  for (int64_t row_start = 0; row_start < count; row_start += columns) {
    for (const bool reconstructed : {false, true}) {
      grid.labels.emplace_back(reconstructed ? "reconstruction" : "original");
      const torch::Tensor& batch = reconstructed ? reconstructions : originals;
      for (int64_t i = row_start; i < row_start + columns; ++i) {
        // A short last row leaves its cells blank.
        grid.tiles.push_back(i < count ? to_gray_image(batch[i]) : GrayImage{});
        grid.captions.push_back(i < count && reconstructed
                                    ? fmt::format("{:.4f}", mse[i].item<double>())
                                    : std::string());
      }
    }
  }
  return grid;
}

}  // namespace sae
