#pragma once
// Sweeps: one run per (beta, rho), and the sparsity/quality trade-off at a glance.

#include "sae/store/file_names.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/train/run_config.hpp"

#include <string>
#include <vector>

namespace sae {

/// One grid point: its run's settings and its folder's name.
struct SweepPoint {
  RunConfig config;
  std::string name;  ///< sweep_point_name(config.beta, config.rho)
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

/// sweep.csv read back: the header's column names and, per row, its cells as written.
struct SweepTable {
  struct Row {
    int line = 0;                    ///< in sweep.csv, 1 being the header
    double beta = 0.0;               ///< cells[0], as a number
    double rho = 0.0;                ///< cells[1], as a number
    std::vector<std::string> cells;  ///< one per column
  };
  std::vector<std::string> columns;  ///< "beta", "rho", then the metrics
  std::vector<Row> rows;
};

/// DIR/sweep.csv, beta and rho parsed as finite numbers; throws naming the line and bad cell.
SweepTable read_sweep_table(const std::string& dir);

}  // namespace sae
