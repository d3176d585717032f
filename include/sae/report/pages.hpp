#pragma once
// HTML reports, one page per run and one per sweep, from mustache templates compiled into the
// binary (src/report/templates/). Self-contained: they work from file:// with no network, their
// images are files beside them.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"
#include "sae/model/model.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/run_config.hpp"

#include <string>
#include <vector>

namespace sae {

/// Writes the run's pictures (write_pictures: DIR/reconstructions.png, units.png, ...), then
/// DIR/report.html and DIR/report/: the run's time, a warning when the explained variance is
/// <= 0, the linear probes, the final test metrics, the loss curves (DIR/loss.png), per-epoch
/// charts from DIR/metrics.csv (mean L0, mean rho_hat, dead units, explained variance), the
/// reconstructions, a card per code unit (atom, top test images, activation histogram, rho_hat,
/// KL for sigmoid codes, max activation, how often active) sortable by rho_hat, KL or activity,
/// and the configuration. Each picture is drawn once. `evaluation` is one pass of `model` over
/// `test`. The probes and the run's time come from `summary`, or when null from DIR/summary.json
/// if it is there.
void write_run_report(const std::string& dir, SparseAutoencoder& model, const Dataset& test,
                      const Evaluation& evaluation, const RunConfig& config,
                      const torch::Device& device, const RunSummary* summary = nullptr);

/// Writes SWEEP/index.html from SWEEP/sweep.csv (read_sweep_table): the sweep table (sortable by
/// any column), sweep.png (and sweep_probe.png when the sweep drew it), and a link from each row
/// to its run's report.html.
void write_sweep_report(const std::string& dir);

/// The run page's warning when the test `explained_variance` is <= 0 (the model outputs about the
/// mean image), with the settings of `config` to change; "" when it is above 0.
std::string explained_variance_warning(double explained_variance, const RunConfig& config);

}  // namespace sae
