#pragma once
// `sae sweep`: one run per (beta, rho), and the sparsity/quality trade-off at a glance.

#include "sae/train.hpp"

#include <string>
#include <vector>

namespace sae {

/// Options of `sae sweep`.
struct SweepOptions {
  TrainOptions base;          ///< everything but beta, rho and the run folder
  std::vector<double> betas;  ///< the grid's beta values
  std::vector<double> rhos;   ///< the grid's rho values
  std::string out;            ///< holds one run folder per grid point, sweep.csv and sweep.png
};

/// The run folder name of one grid point, e.g. "beta=0.005_rho=0.01".
std::string sweep_run_name(double beta, double rho);

/// Runs `sae sweep`: trains every grid point not finished yet (resuming interrupted ones), then
/// writes sweep.csv and sweep.png; returns the process exit code.
int run_sweep(const SweepOptions& options);

}  // namespace sae
