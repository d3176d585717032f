#include "sae/analysis/reconstruct.hpp"

#include "sae/data/image_size.hpp"
#include "sae/model/inference.hpp"

namespace sae {
namespace {

constexpr int kMaxColumns = 16;
constexpr int kPadding = 2;
constexpr int kScale = 3;  // 28 px digits are too small to judge at 1:1

}  // namespace

GrayImage reconstruction_grid(SparseAutoencoder& model, const Dataset& data, int64_t count,
                              const torch::Device& device) {
  count = std::min(count, data.size());
  const auto originals = to_float_batch(data.images.slice(0, 0, count)).to(device);  // (N,1,28,28)
  const auto reconstructions = Inference(model, device).forward(originals).reconstruction;
  const int64_t columns = std::min<int64_t>(count, kMaxColumns);
  std::vector<GrayImage> tiles;
  for (int64_t row_start = 0; row_start < count; row_start += columns) {
    for (const auto* batch : {&originals, &reconstructions}) {
      for (int64_t i = row_start; i < row_start + columns; ++i) {
        // A short last row is padded with blank tiles so the grid stays rectangular.
        tiles.push_back(i < count ? to_gray_image((*batch)[i])
                                  : GrayImage{kImageSide, kImageSide,
                                              std::vector<uint8_t>(kImageSide * kImageSide, 0)});
      }
    }
  }
  return tile_grid(tiles, static_cast<int>(columns), kPadding, kScale);
}

}  // namespace sae
