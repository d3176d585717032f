#include "sae/analysis/inspect.hpp"

#include <fmt/format.h>

#include "sae/analysis/reconstruct.hpp"
#include "sae/data/image_size.hpp"
#include "sae/model/inference.hpp"
#include "sae/plot/charts.hpp"
#include "sae/plot/image_grid.hpp"
#include "sae/store/file_names.hpp"
#include "sae/train/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr int kAtomColumns = 8;
constexpr int kTopPerUnit = 6;  // top.png's images per unit, whose median decodes the atoms
constexpr int kTopBlocks = 4;   // 64 units as 4 blocks of 16 rows keeps top.png near square
constexpr int kTopScale = 2;
constexpr int kAtomScale = 4;
constexpr int kHistogramBins = 50;
constexpr int kBinsPerDecade = 8;  // of the log rho_hat histogram
constexpr int kPanelWidth = 700;   // pixels; two panels side by side
constexpr int64_t kReconstructionImages = 16;

/// "topk, k 16", "sigmoid, KL, β 0.005, ρ 0.01": the kind of code and what it trains with, short
/// enough for a title.
std::string code_brief(const RunConfig& config) {
  switch (config.code) {
    case CodeKind::kSigmoid:
      switch (effective_penalty(config)) {
        case Penalty::kKl:
          return fmt::format("sigmoid, KL, β {}, ρ {}", config.beta, config.rho);
        case Penalty::kL1:
          return fmt::format("sigmoid, L1, β {}", config.beta);
        case Penalty::kNone:
          break;
      }
      return "sigmoid, no penalty";
    case CodeKind::kRelu:
      return fmt::format("relu, L1, β {}", config.beta);
    case CodeKind::kTopK:
    case CodeKind::kBatchTopK:
      return fmt::format("{}, k {}", code_name(config.code), config.k);
    case CodeKind::kJumpRelu:
      return fmt::format("jumprelu, λ {}", config.l0_coef);
  }
  return code_name(config.code);
}

/// Each unit's `k` largest activations in `codes` (N, 64), largest first: (k, 64) on the CPU, and
/// the images they come from.
std::pair<torch::Tensor, torch::Tensor> top_activations(const torch::Tensor& codes, int64_t k) {
  auto [values, indices] = codes.to(torch::kCPU).to(torch::kFloat64).topk(k, /*dim=*/0);
  return {values.contiguous(), indices.contiguous()};
}

/// atoms.png: each unit's atom, its number and the activation it is decoded at.
TileGrid atoms_picture(const std::vector<GrayImage>& atoms, const std::vector<double>& levels,
                       const std::string& code) {
  TileGrid grid;
  grid.title = fmt::format("What each unit draws alone ({})", code);
  grid.subtitle = fmt::format(
      "decoded at its typical top activation h: the median of its {} largest on the test set "
      "(top.png), or 1 where that is 0; each tile stretched to its own range",
      kTopPerUnit);
  grid.tiles = atoms;
  grid.columns = kAtomColumns;
  grid.scale = kAtomScale;
  for (std::size_t j = 0; j < atoms.size(); ++j) {
    grid.captions.push_back(fmt::format("unit {}: h={:.3g}", j, levels[j]));
  }
  return grid;
}

/// top.png: for each unit, the images of `data` that activate it most, each with its activation:
/// units 0..63 in 4 blocks of 16 rows, left to right, one row per unit, its number at its left.
TileGrid top_picture(const torch::Tensor& codes, const Dataset& data, const std::string& code) {
  const int64_t k = std::min<int64_t>(kTopPerUnit, codes.size(0));
  const auto [values, indices] = top_activations(codes, k);  // (k, 64) each
  const int rows = static_cast<int>(kCodeSize / kTopBlocks);
  TileGrid grid;
  grid.title = fmt::format("The test images that activate each unit most ({})", code);
  grid.subtitle = fmt::format(
      "left of each row: the unit; under each image: its activation h; units 0-{}, {}-{}, ... "
      "in the {} blocks",
      rows - 1, rows, 2 * rows - 1, kTopBlocks);
  grid.columns = kTopBlocks * kTopPerUnit;
  grid.group = kTopPerUnit;
  grid.scale = kTopScale;
  for (int row = 0; row < rows; ++row) {
    for (int block = 0; block < kTopBlocks; ++block) {
      const int64_t unit = block * rows + row;
      grid.labels.push_back(std::to_string(unit));
      for (int i = 0; i < kTopPerUnit; ++i) {
        const bool shown = i < k;
        grid.tiles.push_back(shown ? to_gray_image(data.images[indices[i][unit].item<int64_t>()])
                                   : GrayImage{});
        grid.captions.push_back(shown ? fmt::format("{:.3g}", values[i][unit].item<double>())
                                      : std::string());
      }
    }
  }
  return grid;
}

/// units.png: rho_hat of each unit, sorted, with rho, the far cutoff and the dead units marked.
void plot_units(const std::string& path, const EvalMetrics& m, const RunConfig& config) {
  const double threshold = code_of(config.code).active_threshold();
  std::vector<std::size_t> order(m.rho_hat.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return m.rho_hat[a] > m.rho_hat[b]; });
  Bars bars;
  for (const std::size_t j : order) {
    bars.heights.push_back(m.rho_hat[j]);
    // Never above the threshold on any image: what eval counts as dead.
    bars.marked.push_back(j < m.max_activation.size() && m.max_activation[j] <= threshold);
  }
  bars.marked_label = fmt::format("dead: never above {} ({})", threshold, m.dead_units);
  const bool target = effective_penalty(config) == Penalty::kKl;
  if (applies_to("rho", config.code)) {  // other kinds have no target activation
    bars.references = {
        {config.rho, fmt::format("ρ = {}{}", config.rho, target ? " (KL target)" : "")},
        {kFarFactor * config.rho,
         fmt::format("{}·ρ: far units above ({})", kFarFactor, m.far_units)}};
  }
  const PlotSpec spec{fmt::format("ρ̂ of each unit, sorted ({})", code_brief(config)),
                      {"unit, sorted by ρ̂"},
                      {"ρ̂: mean activation on the test set (log scale)", Scale::kLog10}};
  plot_bars(path, spec, bars);
}

/// activations.png: the code's values with the activity threshold, and rho_hat on a log axis.
void plot_activations(const std::string& path, const Evaluation& evaluation,
                      const RunConfig& config) {
  const EvalMetrics& m = evaluation.metrics;
  const double threshold = code_of(config.code).active_threshold();
  const auto flat = evaluation.codes.flatten().to(torch::kCPU).to(torch::kFloat64).contiguous();
  Histogram values;
  values.spec = {fmt::format("Code values h on the test set ({})", code_brief(config)),
                 {"activation h"},
                 {"count (log scale)", Scale::kLog10}};
  values.spec.width = kPanelWidth;
  values.values.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  values.bins = kHistogramBins;
  // Sigmoid codes live in [0, 1]; the others reach as far as their largest value.
  const double top = flat.numel() > 0 ? flat.max().item<double>() : 1.0;
  values.hi = config.code == CodeKind::kSigmoid ? 1.0 : std::max(top, 1e-6);
  values.lines = {{threshold, fmt::format("active above {}", threshold)}};
  values.notes = {fmt::format("L0: {:.1f} of {} active per image", m.mean_l0, kCodeSize)};

  // As SAELens' feature density histogram: log10 of each unit's rho_hat, which spans decades.
  Histogram units;
  units.spec = {fmt::format("ρ̂ of the {} units", kCodeSize),
                {"ρ̂: mean activation on the test set (log scale)", Scale::kLog10},
                {"units"}};
  units.spec.width = kPanelWidth;
  units.spec.y.integers = true;  // a count of units
  std::vector<double> positive;
  for (const double r : m.rho_hat) {
    if (r > 0 && std::isfinite(r)) positive.push_back(r);
  }
  units.values = m.rho_hat;
  const auto zero = static_cast<int64_t>(m.rho_hat.size() - positive.size());
  if (positive.empty()) {
    units.lo = 1e-3;  // a frame for the notes to say why it is empty
    units.hi = 1.0;
  } else {
    const auto [lo, hi] = std::minmax_element(positive.begin(), positive.end());
    units.lo = std::pow(10.0, std::floor(std::log10(*lo)));
    units.hi = std::pow(10.0, std::ceil(std::log10(*hi)));
    if (units.hi <= units.lo) units.hi = 10 * units.lo;
  }
  const int decades = static_cast<int>(std::lround(std::log10(units.hi / units.lo)));
  units.bins = std::max(1, decades) * kBinsPerDecade;
  for (const auto& [at, label] :
       {std::pair{config.rho, fmt::format("ρ = {}", config.rho)},
        std::pair{kFarFactor * config.rho, fmt::format("{}·ρ: far above it", kFarFactor)}}) {
    if (applies_to("rho", config.code) && at >= units.lo && at <= units.hi) {
      units.lines.push_back({at, label});
    }
  }
  if (zero > 0) units.notes.push_back(fmt::format("{} units with ρ̂ = 0 (dead) not drawn", zero));
  if (m.dead_units > zero) {
    units.notes.push_back(
        fmt::format("{} of them dead (never above {})", m.dead_units - zero, threshold));
  }
  plot_histograms(path, {values, units});
}

}  // namespace

std::vector<double> atom_levels(const torch::Tensor& codes) {
  std::vector<double> levels(kCodeSize, 1.0);
  const int64_t k = std::min<int64_t>(kTopPerUnit, codes.size(0));
  if (k == 0) return levels;
  const auto values = top_activations(codes, k).first;  // (k, 64), largest first
  for (int64_t j = 0; j < kCodeSize; ++j) {
    const double median =
        k % 2 == 1 ? values[k / 2][j].item<double>()
                   : 0.5 * (values[k / 2 - 1][j].item<double>() + values[k / 2][j].item<double>());
    // A unit never above 0 draws nothing at 0: at 1 it shows the direction it would draw.
    if (median > 0 && std::isfinite(median)) levels[j] = median;
  }
  return levels;
}

std::vector<GrayImage> atom_tiles(SparseAutoencoder& model, const torch::Tensor& codes,
                                  const torch::Device& device) {
  const std::vector<double> levels = atom_levels(codes);
  // Row j: unit j alone at its level.
  const auto diagonal = torch::diag(torch::tensor(levels, torch::kFloat64).to(torch::kFloat32));
  const auto drawn = Inference(model, device).decode(diagonal.to(device));  // (64, 1, 28, 28)
  const auto atoms = drawn.to(torch::kCPU).flatten(1);                      // (64, 784)
  // Per-tile contrast: each atom stretched to [0, 1] so faint units are still visible.
  const auto lo = std::get<0>(atoms.min(/*dim=*/1, /*keepdim=*/true));
  const auto hi = std::get<0>(atoms.max(/*dim=*/1, /*keepdim=*/true));
  const auto stretched = (atoms - lo) / (hi - lo).clamp_min(1e-12);
  std::vector<GrayImage> tiles;
  for (int64_t unit = 0; unit < kCodeSize; ++unit) tiles.push_back(to_gray_image(stretched[unit]));
  return tiles;
}

void write_pictures(const std::string& dir, SparseAutoencoder& model, const Dataset& data,
                    const Evaluation& evaluation, const RunConfig& config,
                    const torch::Device& device, const std::vector<GrayImage>& atoms) {
  const fs::path out(dir);
  const std::string code = code_brief(config);
  TileGrid reconstructions = reconstruction_picture(model, data, kReconstructionImages, device);
  reconstructions.title = fmt::format("The first {} test images and their reconstructions ({})",
                                      std::min(kReconstructionImages, data.size()), code);
  plot_tile_grid((out / kReconstructionsFile).string(), reconstructions);
  plot_units((out / kUnitsFile).string(), evaluation.metrics, config);
  plot_activations((out / kActivationsFile).string(), evaluation, config);
  plot_tile_grid((out / kAtomsFile).string(),
                 atoms_picture(atoms.empty() ? atom_tiles(model, evaluation.codes, device) : atoms,
                               atom_levels(evaluation.codes), code));
  plot_tile_grid((out / kTopFile).string(), top_picture(evaluation.codes, data, code));
}

}  // namespace sae
