#pragma once
// The names of what a run folder and a sweep folder hold, and the functions that build and
// recognise the names that carry a number.

#include <cstdint>
#include <string>

namespace sae {

struct RunConfig;

/// A run folder's files.
inline constexpr const char* kConfigFile = "config.toml";        ///< settings, human-editable
inline constexpr const char* kManifestFile = "checkpoint.json";  ///< the committed checkpoint
inline constexpr const char* kModelFile = "model.pt";            ///< the latest committed model
inline constexpr const char* kMetricsFile = "metrics.csv";       ///< one row per epoch
inline constexpr const char* kStepsFile = "steps.csv";           ///< a row every --log-every steps
inline constexpr const char* kLossPlotFile = "loss.png";
inline constexpr const char* kSummaryFile = "summary.json";  ///< written last: the run is done
inline constexpr const char* kReconstructionsFile = "reconstructions.png";
inline constexpr const char* kLockFile = ".lock";
inline constexpr const char* kLaunchFile = "launch.json";  ///< the torchrun launch that made it
inline constexpr const char* kReportFile = "report.html";  ///< the run's page (report/pages.hpp)
inline constexpr const char* kReportAssetsDir = "report";  ///< its per-unit pictures
/// The pictures `sae inspect` draws (and training writes at the end).
inline constexpr const char* kUnitsFile = "units.png";
inline constexpr const char* kActivationsFile = "activations.png";
inline constexpr const char* kAtomsFile = "atoms.png";
inline constexpr const char* kTopFile = "top.png";
inline constexpr const char* kInspectionFiles[] = {kUnitsFile, kActivationsFile, kAtomsFile,
                                                   kTopFile};

/// A sweep folder's files, beside one run folder per grid point.
inline constexpr const char* kSweepCsvFile = "sweep.csv";      ///< one row per grid point
inline constexpr const char* kSweepPlotFile = "sweep.png";     ///< the frontier: FVU against L0
inline constexpr const char* kSweepReportFile = "index.html";  ///< the sweep's page

/// "pair_0003.png": the picture `sae reconstruct --pairs` writes for image `index`.
std::string pair_file_name(int64_t index);
/// True for the names pair_file_name gives.
bool is_pair_file_name(const std::string& name);

/// "unit-07-atom.png": the report's picture (in kReportAssetsDir) of what unit `unit` draws.
std::string unit_atom_file_name(int64_t unit);
/// "unit-07-top.png": the report's picture of the test images that activate unit `unit` most.
std::string unit_top_file_name(int64_t unit);
/// "sweep-shard-1-of-2.log": the log of shard `index` of `count` of `sae sweep --jobs`.
std::string shard_log_file_name(int64_t index, int64_t count);

/// "model-00000012.pt": a model or optimizer file (`stem`) committed at optimizer step `steps`.
std::string step_file_name(const char* stem, int64_t steps);
/// True for the names step_file_name gives (model-00000012.pt, optimizer-00000012.pt).
bool is_checkpoint_file_name(const std::string& name);

/// The folder (inside the sweep folder) of the grid point `config`, from its kind of code and
/// the swept settings that apply to it: "beta=0.005_rho=0.01" for sigmoid (as before --code),
/// "relu_beta0.01", "topk_k8", "batchtopk_k8", "jumprelu_l0coef0.001".
std::string sweep_point_name(const RunConfig& config);

}  // namespace sae
