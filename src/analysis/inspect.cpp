#include "sae/analysis/inspect.hpp"

#include <fmt/format.h>

#include "sae/analysis/reconstruct.hpp"
#include "sae/data/image_size.hpp"
#include "sae/model/inference.hpp"
#include "sae/plot/charts.hpp"
#include "sae/store/file_names.hpp"

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
constexpr int kPanelWidth = 700;  // pixels; two panels side by side
constexpr int64_t kReconstructionImages = 16;

GrayImage blank_tile(uint8_t value) {
  return {kImageSide, kImageSide, std::vector<uint8_t>(kImageSide * kImageSide, value)};
}

}  // namespace

std::vector<GrayImage> atom_tiles(SparseAutoencoder& model, const torch::Device& device) {
  // Row j of the identity: unit j alone at 1.
  const auto codes = torch::eye(kCodeSize, torch::TensorOptions(torch::kFloat32).device(device));
  const auto drawn = Inference(model, device).decode(codes);  // (64, 1, 28, 28)
  const auto atoms = drawn.to(torch::kCPU).flatten(1);        // (64, 784)
  // Per-tile contrast: each atom stretched to [0, 1] so faint units are still visible.
  const auto lo = std::get<0>(atoms.min(/*dim=*/1, /*keepdim=*/true));
  const auto hi = std::get<0>(atoms.max(/*dim=*/1, /*keepdim=*/true));
  const auto stretched = (atoms - lo) / (hi - lo).clamp_min(1e-12);
  std::vector<GrayImage> tiles;
  for (int64_t unit = 0; unit < kCodeSize; ++unit) tiles.push_back(to_gray_image(stretched[unit]));
  return tiles;
}

GrayImage atoms_grid(const std::vector<GrayImage>& atoms) {
  return tile_grid(atoms, kAtomColumns, kPadding, kScale * 2);
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

void write_pictures(const std::string& dir, SparseAutoencoder& model, const Dataset& data,
                    const Evaluation& evaluation, double rho, const torch::Device& device,
                    const std::vector<GrayImage>& atoms) {
  const fs::path out(dir);
  const EvalMetrics& metrics = evaluation.metrics;
  const torch::Tensor& codes = evaluation.codes;
  write_png((out / kReconstructionsFile).string(),
            reconstruction_grid(model, data, kReconstructionImages, device));
  std::vector<double> sorted = metrics.rho_hat;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const PlotSpec units_spec{"Mean activation rho_hat of each code unit, sorted",
                            {"unit (sorted by rho_hat)"},
                            {"rho_hat", Scale::kLog10}};
  plot_bars((out / kUnitsFile).string(), units_spec,
            {sorted, ReferenceLine{rho, fmt::format("rho = {}", rho)}});

  const auto flat = codes.flatten().to(torch::kFloat64).contiguous();
  Histogram values;
  values.spec = {"Code values over the test set", {"activation h"}, {"count", Scale::kLog10}};
  values.spec.width = kPanelWidth;
  values.values.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  values.bins = kHistogramBins;
  Histogram units;
  units.spec = {"rho_hat over the 64 units", {"rho_hat"}, {"count"}};
  units.spec.width = kPanelWidth;
  units.values = metrics.rho_hat;
  units.bins = kHistogramBins;
  plot_histograms((out / kActivationsFile).string(), {values, units});

  write_png((out / kAtomsFile).string(),
            atoms_grid(atoms.empty() ? atom_tiles(model, device) : atoms));
  write_png((out / kTopFile).string(), top_images_grid(codes, data, kTopPerUnit));
}

}  // namespace sae
