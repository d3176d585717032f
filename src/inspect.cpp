#include "sae/inspect.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/checkpoint.hpp"
#include "sae/device.hpp"
#include "sae/loss.hpp"
#include "sae/plot.hpp"
#include "sae/reconstruct.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr int kAtomColumns = 8;
constexpr int kTopPerUnit = 6;
constexpr int kTopBlocks = 4;  // 64 units as 4 blocks of 16 rows keeps top.png near square
constexpr int kScale = 2;
constexpr int kPadding = 2;
constexpr int kHistogramBins = 50;

GrayImage blank_tile(uint8_t value) {
  return {28, 28, std::vector<uint8_t>(28 * 28, value)};
}

}  // namespace

GrayImage atoms_grid(SparseAutoencoder& model, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto codes = torch::eye(kCodeSize, torch::TensorOptions(torch::kFloat32).device(device));
  const auto atoms = model->decode(codes).to(torch::kCPU).flatten(1);  // (64, 784)
  // Per-tile contrast: each atom stretched to [0, 1] so faint units are still visible.
  const auto lo = std::get<0>(atoms.min(/*dim=*/1, /*keepdim=*/true));
  const auto hi = std::get<0>(atoms.max(/*dim=*/1, /*keepdim=*/true));
  const auto stretched = (atoms - lo) / (hi - lo).clamp_min(1e-12);
  std::vector<GrayImage> tiles;
  for (int64_t unit = 0; unit < kCodeSize; ++unit) tiles.push_back(to_gray_image(stretched[unit]));
  return tile_grid(tiles, kAtomColumns, kPadding, kScale * 2);
}

GrayImage top_images_grid(const torch::Tensor& codes, const Dataset& data, int per_unit) {
  const int64_t k = std::min<int64_t>(per_unit, codes.size(0));
  const auto top = std::get<1>(codes.topk(k, /*dim=*/0));  // (k, 64): image indices per unit
  const int rows = static_cast<int>(kCodeSize / kTopBlocks);
  const int columns = kTopBlocks * (per_unit + 1) - 1;  // a blank column between blocks
  std::vector<GrayImage> tiles;
  for (int row = 0; row < rows; ++row) {
    for (int block = 0; block < kTopBlocks; ++block) {
      const int64_t unit = block * rows + row;
      for (int i = 0; i < per_unit; ++i) {
        tiles.push_back(i < k ? to_gray_image(data.images[top[i][unit].item<int64_t>()])
                              : blank_tile(0));
      }
      if (block + 1 < kTopBlocks) tiles.push_back(blank_tile(128));
    }
  }
  return tile_grid(tiles, columns, kPadding, kScale);
}

void write_inspection(const std::string& dir, SparseAutoencoder& model, const Dataset& data,
                      const EvalMetrics& metrics, const torch::Tensor& codes, double rho,
                      const torch::Device& device) {
  const fs::path out(dir);
  std::vector<double> sorted = metrics.rho_hat;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  plot_bars((out / "units.png").string(), "Mean activation rho_hat of each code unit, sorted",
            "unit (sorted by rho_hat)", "rho_hat", sorted, rho, fmt::format("rho = {}", rho),
            /*log_y=*/true);

  const auto flat = codes.flatten().to(torch::kFloat64).contiguous();
  Histogram values{"Code values over the test set",
                   "activation h",
                   {},
                   kHistogramBins,
                   0.0,
                   1.0,
                   /*log_counts=*/true};
  values.values.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  Histogram units{"rho_hat over the 64 units", "rho_hat", metrics.rho_hat, kHistogramBins, 0.0, 1.0,
                  /*log_counts=*/false};
  plot_histograms((out / "activations.png").string(), {values, units});

  write_png((out / "atoms.png").string(), atoms_grid(model, device));
  write_png((out / "top.png").string(), top_images_grid(codes, data, kTopPerUnit));
}

int run_inspect(const InspectOptions& o) {
  if (o.batch_size < 1) {
    throw std::invalid_argument(
        fmt::format("--batch-size must be at least 1, got {}", o.batch_size));
  }
  const torch::Device device = resolve_device(o.device);
  set_threads(o.threads);
  auto [model, info, data_dir] = open_checkpoint(o.checkpoint, o.data_dir, device);
  const Dataset test = load_split(data_dir, Split::kTest);
  const SparseLoss loss_fn(info.beta, info.rho, parse_penalty(info.penalty));
  const EvalMetrics metrics = evaluate(model, test, loss_fn, o.batch_size, device);
  fs::create_directories(o.out);
  write_inspection(o.out, model, test, metrics, encode_all(model, test, o.batch_size, device),
                   info.rho, device);
  spdlog::info("wrote units.png, activations.png, atoms.png and top.png to {}", o.out);
  return 0;
}

}  // namespace sae
