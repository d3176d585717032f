#pragma once
// Sweeps: one run per grid point (a kind of code and the settings swept for it), and the
// frontier of reconstruction (and of the probe's accuracy) against sparsity.

#include "sae/store/file_names.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/train/run_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// The lists `sae sweep` takes; an empty one was not given, and its setting keeps the base's.
struct SweepLists {
  std::vector<CodeKind> codes;   ///< --code
  std::vector<double> betas;     ///< --beta: sigmoid and relu
  std::vector<double> rhos;      ///< --rho: sigmoid
  std::vector<int64_t> ks;       ///< --k: topk and batchtopk
  std::vector<double> l0_coefs;  ///< --l0-coef: jumprelu
};

/// One grid point: its run's settings and its folder's name.
struct SweepPoint {
  RunConfig config;
  std::string name;  ///< sweep_point_name(config)
};

/// The grid over `base`: for each kind of code in `lists.codes` (base.code when empty), the
/// product of the lists that apply to it (applies_to), each point validated, equal values merged.
/// A point keeps the base's settings that apply to its code and takes the defaults of the others.
/// Throws UsageError for an empty or invalid grid, and for a list, or a base setting other than
/// its default, that applies to none of the codes.
std::vector<SweepPoint> sweep_grid(const RunConfig& base, const SweepLists& lists);

/// "sigmoid, beta 0.005, rho 0.01", "topk, k 8": a grid point's kind of code and the swept
/// settings that apply to it, as the sweep's log names the point.
std::string describe_point(const RunConfig& config);

/// Refuses in one line the setting `key` (its flag without dashes) when it applies to none of
/// `codes`: "--k applies to --code topk and batchtopk, not sigmoid or relu; ...".
void check_applies_to_one_of(const std::string& key, const std::vector<CodeKind>& codes);

/// One row of sweep.csv: a grid point and what its run reached.
struct SweepRow {
  RunConfig config;  ///< the point's settings
  RunSummary summary;
};

/// Writes sweep.csv (the kind of code, beta, rho, k and l0_coef, empty where a setting does not
/// apply to the row's code, then the metrics) and sweep.png to `dir`: beside each other the
/// frontier, thresholded FVU against mean L0 (log), and the probe's accuracy against mean L0; the
/// runs coloured by one axis of the grid (the kind of code, when there are several) and marked by
/// another, the Pareto-optimal ones joined, and those a log axis cannot show named in a note.
void write_sweep_results(const std::string& dir, const std::vector<SweepRow>& rows);

/// sweep.csv read back: the header's column names and, per row, its cells as written.
struct SweepTable {
  struct Row {
    int line = 0;                    ///< in sweep.csv, 1 being the header
    RunConfig settings;              ///< the row's code, beta, rho, k and l0_coef; the rest default
    std::string name;                ///< sweep_point_name(settings): the grid point's folder
    std::vector<std::string> cells;  ///< one per column
  };
  std::vector<std::string> columns;  ///< "code", "beta", "rho", "k", "l0_coef", then the metrics
  std::vector<Row> rows;
};

/// DIR/sweep.csv, each row's settings parsed in full: a number where the setting applies to the
/// row's code, an empty cell where it does not. A file from before --code (its header starts
/// "beta,rho,") reads as sigmoid runs. Throws naming the line and the bad cell.
SweepTable read_sweep_table(const std::string& dir);

}  // namespace sae
