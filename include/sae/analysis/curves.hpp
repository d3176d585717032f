#pragma once
// loss.png: a run's loss per epoch, beside its MSE and what its code's penalties add to the MSE.

#include "sae/store/run_folder.hpp"
#include "sae/train/run_config.hpp"

#include <string>
#include <vector>

namespace sae {

/// Writes loss.png at `path` from metrics.csv's rows of the run of `config`: panels of the loss,
/// the MSE and the loss minus the MSE (named after the penalties `config` adds; left out when it
/// adds none), each train (a mean over the epoch's steps, drawn at the epoch's middle) and test
/// or validation (scored at the epoch's end, drawn there). A panel metrics.csv has no values for
/// (a file from before its column) is left out.
void plot_loss_curves(const std::string& path, const std::vector<EpochMetrics>& rows,
                      const RunConfig& config);

}  // namespace sae
