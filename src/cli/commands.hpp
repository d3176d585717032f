#pragma once
// The subcommands: each file in src/cli/ owns one's options, flags and run function.

#include <CLI/CLI.hpp>

#include "options.hpp"

namespace sae::commands {

/// `sae train`: one run folder, fresh or resumed. --config lives on `app` (CLI11 reads config
/// files at the top level only).
Command setup_train(CLI::App& app, CommonOptions& common);
/// `sae sweep`: one run per grid point (each --code kind times the lists that apply to it), then
/// sweep.csv, sweep.png and index.html.
Command setup_sweep(CLI::App& app, CommonOptions& common);
/// `sae eval`: a checkpoint's test-set metrics.
Command setup_eval(CLI::App& app, CommonOptions& common);
/// `sae reconstruct`: originals over their reconstructions, as PNGs.
Command setup_reconstruct(CLI::App& app, CommonOptions& common);
/// `sae encode`: codes.npy and labels.npy.
Command setup_encode(CLI::App& app, CommonOptions& common);
/// `sae report`: report.html for a run, index.html for a sweep.
Command setup_report(CLI::App& app, CommonOptions& common);
/// `sae inspect`: pictures of what the code learned.
Command setup_inspect(CLI::App& app, CommonOptions& common);

}  // namespace sae::commands
