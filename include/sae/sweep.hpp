#pragma once
// Sweeps: one run per (beta, rho), and the sparsity/quality trade-off at a glance.

#include "sae/run_config.hpp"
#include "sae/run_folder.hpp"

#include <string>
#include <vector>

namespace sae {

/// One grid point: its run's settings and its folder's name.
struct SweepPoint {
  RunConfig config;
  std::string name;  ///< e.g. "beta=0.005_rho=0.01"
};

/// The grid of `betas` x `rhos` over `base`, each point validated; equal values are merged.
/// Throws UsageError for an empty or invalid grid.
std::vector<SweepPoint> sweep_grid(const RunConfig& base, std::vector<double> betas,
                                   std::vector<double> rhos);

/// One row of sweep.csv: a grid point and what its run reached.
struct SweepRow {
  double beta = 0.0;
  double rho = 0.0;
  RunSummary summary;
};

/// Writes sweep.csv and sweep.png (test MSE against mean L0, one labelled point per run) to `dir`.
void write_sweep_results(const std::string& dir, const std::vector<SweepRow>& rows);

}  // namespace sae
