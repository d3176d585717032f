#include "sae/reconstruct.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/checkpoint.hpp"
#include "sae/device.hpp"

#include <filesystem>
#include <stdexcept>

namespace sae {
namespace {

constexpr int kMaxColumns = 16;
constexpr int kPadding = 2;
constexpr int kScale = 3;  // 28 px digits are too small to judge at 1:1

}  // namespace

GrayImage to_gray_image(const torch::Tensor& image) {
  auto bytes = image.detach().to(torch::kCPU).reshape({28, 28});
  if (bytes.dtype() != torch::kUInt8)
    bytes = bytes.mul(255.0).round().clamp(0, 255).to(torch::kUInt8);
  bytes = bytes.contiguous();
  GrayImage out{28, 28, {}};
  out.pixels.assign(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
  return out;
}

GrayImage reconstruction_grid(SparseAutoencoder& model, const Dataset& data, int64_t count,
                              const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  count = std::min(count, data.size());
  const auto originals = to_float_batch(data.images.slice(0, 0, count)).to(device);  // (N,1,28,28)
  const auto reconstructions = model->forward(originals).reconstruction;             // (N,1,28,28)
  const int64_t columns = std::min<int64_t>(count, kMaxColumns);
  std::vector<GrayImage> tiles;
  for (int64_t row_start = 0; row_start < count; row_start += columns) {
    for (const auto* batch : {&originals, &reconstructions}) {
      for (int64_t i = row_start; i < row_start + columns; ++i) {
        // A short last row is padded with blank tiles so the grid stays rectangular.
        tiles.push_back(i < count ? to_gray_image((*batch)[i])
                                  : GrayImage{28, 28, std::vector<uint8_t>(28 * 28, 0)});
      }
    }
  }
  return tile_grid(tiles, static_cast<int>(columns), kPadding, kScale);
}

int run_reconstruct(const ReconstructOptions& o) {
  if (o.count < 1)
    throw std::invalid_argument(fmt::format("--count must be at least 1, got {}", o.count));
  if (o.split != "test" && o.split != "train") {
    throw std::invalid_argument(fmt::format("--split must be test or train, got '{}'", o.split));
  }
  const torch::Device device = resolve_device(o.device);
  set_threads(o.threads);
  auto [model, info, data_dir] = open_checkpoint(o.checkpoint, o.data_dir, device);
  const Dataset data = load_split(data_dir, o.split == "test" ? Split::kTest : Split::kTrain);

  namespace fs = std::filesystem;
  fs::create_directories(o.out);
  const std::string grid_path = (fs::path(o.out) / "reconstructions.png").string();
  write_png(grid_path, reconstruction_grid(model, data, o.count, device));
  spdlog::info("wrote {}", grid_path);
  if (o.pairs) {
    const int64_t count = std::min(o.count, data.size());
    for (int64_t i = 0; i < count; ++i) {
      const Dataset one{data.images.slice(0, i, i + 1), data.labels.slice(0, i, i + 1)};
      const std::string path = (fs::path(o.out) / fmt::format("pair_{:04}.png", i)).string();
      write_png(path, reconstruction_grid(model, one, 1, device));
    }
    spdlog::info("wrote {} pair PNGs to {}", count, o.out);
  }
  return 0;
}

}  // namespace sae
