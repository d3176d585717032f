// `sae report DIR`: one HTML page for a run (DIR/report.html) or for a sweep (DIR/index.html).

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/base/errors.hpp"
#include "sae/report/pages.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/store/open_model.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/store/sweep_folder.hpp"
#include "sae/train/eval.hpp"

#include <filesystem>

namespace sae::commands {
namespace {

namespace fs = std::filesystem;

struct ReportOptions {
  CheckpointSource source;  // a run folder, or a sweep's
  ComputeOptions compute;
};

/// The run's page, from one evaluation pass over its test set.
void report_run(const CheckpointSource& source, const ComputeOptions& compute) {
  OpenedModel opened = open_model(source, compute);
  const Dataset test = load_split(opened.data_dir, Split::kTest);
  const Evaluation evaluation = evaluate(opened.model, test, opened.loss,
                                         opened.checkpoint.config.test_batch_size, opened.device);
  write_run_report(source.checkpoint, opened.model, test, evaluation, opened.checkpoint.config,
                   opened.device);
  spdlog::info("wrote {}", (fs::path(source.checkpoint) / kReportFile).string());
}

int run_report(const ReportOptions& o) {
  const fs::path dir = o.source.checkpoint;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw UsageError(
        fmt::format("{}: not a folder; give a run folder or a sweep folder", dir.string()));
  }
  if (!fs::exists(dir / kSweepCsvFile)) {
    report_run(o.source, o.compute);
    return 0;
  }
  // A sweep: the page of each run sweep.csv lists, where it has none yet (runs trained before
  // reports existed), then the index. A run that cannot be reported is named and skipped. The
  // whole table is read first, so that a bad row stops the command before anything is written.
  const SweepTable table = read_sweep_table(dir.string());
  for (const SweepTable::Row& row : table.rows) {
    const fs::path run = dir / row.name;
    if (fs::is_symlink(run, ec)) {
      // Its target may be any folder on the machine: a report of the sweep stays inside it.
      spdlog::warn(
          "{}: a symlink, not followed, so this run gets no report here; run sae report on the "
          "folder it points to for one",
          run.string());
    } else if (!fs::exists(run / kManifestFile)) {
      spdlog::warn("{}: listed in sweep.csv, but no run is there; its link will be dead",
                   run.string());
    } else if (!fs::exists(run / kReportFile)) {
      try {
        report_run({run.string(), o.source.data_dir}, o.compute);
      } catch (const std::exception& e) {
        spdlog::warn("{}: no report: {}", run.string(), first_line(e.what()));
      }
    }
  }
  write_sweep_report(dir.string());
  spdlog::info("wrote {}", (dir / kSweepReportFile).string());
  return 0;
}

}  // namespace

Command setup_report(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "write a run's report.html, or a sweep's index.html (sae train and sae sweep "
      "write them too)");
  cmd->add_option("dir", options->source.checkpoint, "a run folder, or a sweep folder")->required();
  cmd->add_option("--data-dir", options->source.data_dir,
                  "folder with the IDX files (default: the one each run was trained on)");
  add_compute_options(*cmd, options->compute);
  add_common_options(*cmd, common);
  return {cmd, [options] { return run_report(*options); }};
}

}  // namespace sae::commands
