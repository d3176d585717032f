// `sae sweep`: one run per grid point (kinds of code times the lists of their settings), and the
// frontier of reconstruction against sparsity at a glance.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/interrupt.hpp"
#include "sae/data/dataset.hpp"
#include "sae/run/sweep.hpp"
#include "sae/run/sweep_shard.hpp"
#include "sae/train/device.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>

namespace sae::commands {
namespace {

namespace fs = std::filesystem;

// The settings sweeps take lists of; the lists replace their single flags.
const std::set<std::string> kListedSettings = {"code", "beta", "rho", "k", "l0-coef"};

struct SweepOptions {
  RunConfig base;                  // everything but the listed settings
  std::vector<std::string> codes;  // "sigmoid,topk", or repeated; empty: not given
  std::vector<std::string> betas;  // "0,0.001,0.005", or repeated: parse_number_list
  std::vector<std::string> rhos;
  std::vector<std::string> ks;
  std::vector<std::string> l0_coefs;
  std::set<std::string> given;  // the settings the command line gave (given_settings)
  std::string out;              // one run folder per grid point, sweep.csv and sweep.png
  bool force = false;           // retrain finished points whose settings differ
  int jobs = 1;                 // grid points trained at once, as separate processes
  std::string shard;  // "I/N": only the points k with k % N == I (empty: all, or Slurm's array)
};

/// A repeated flag's values as one list: "0,0.1" and "0.5" give "0,0.1,0.5".
std::string joined(const std::vector<std::string>& values) {
  return fmt::format("{}", fmt::join(values, ","));
}

/// The items of `flag`'s list `text`, each read by `parse` (nullopt: not an item of this list);
/// a UsageError naming the flag, the item and what `expected` for an empty or unread one.
template <typename T>
std::vector<T> parse_list(const char* flag, const std::string& text, const char* expected,
                          const std::function<std::optional<T>(const std::string&)>& parse) {
  std::vector<T> items;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    const std::optional<T> value = item.empty() ? std::nullopt : parse(item);
    if (!value) {
      throw UsageError(fmt::format("{} {}: item {} is {}; expected {} separated by commas", flag,
                                   text, items.size() + 1,
                                   item.empty() ? "empty" : "'" + item + "'", expected));
    }
    items.push_back(*value);
    if (end == text.size()) return items;
    begin = end + 1;
  }
}

/// --code's list as kinds of code; empty when not given.
std::vector<CodeKind> parse_code_list(const std::vector<std::string>& values) {
  if (values.empty()) return {};
  const std::string expected =
      fmt::format("kinds of code ({})", fmt::join(names_of_kind(CodeKind::kSigmoid), ", "));
  return parse_list<CodeKind>("--code", joined(values), expected.c_str(),
                              [](const std::string& item) -> std::optional<CodeKind> {
                                try {
                                  return parse_code(item);
                                } catch (const UsageError&) {
                                  return std::nullopt;
                                }
                              });
}

/// --k's list as integers, each in full (its range is validate's); empty when not given.
std::vector<int64_t> parse_integer_list(const char* flag, const std::vector<std::string>& values) {
  if (values.empty()) return {};
  return parse_list<int64_t>(flag, joined(values), "integers, e.g. 8,16,32",
                             [](const std::string& item) -> std::optional<int64_t> {
                               int64_t value = 0;
                               const char* end = item.data() + item.size();
                               const auto [stop, error] = std::from_chars(item.data(), end, value);
                               if (error != std::errc() || stop != end) return std::nullopt;
                               return value;
                             });
}

/// A list of numbers (parse_number_list); empty when not given.
std::vector<double> parse_numbers(const char* flag, const std::vector<std::string>& values) {
  return values.empty() ? std::vector<double>{} : parse_number_list(flag, joined(values));
}

int run_sweep(const SweepOptions& o, const CommonOptions& common) {
  SweepLists lists;
  lists.codes = parse_code_list(o.codes);
  lists.betas = parse_numbers("--beta", o.betas);
  lists.rhos = parse_numbers("--rho", o.rhos);
  lists.ks = parse_integer_list("--k", o.ks);
  lists.l0_coefs = parse_numbers("--l0-coef", o.l0_coefs);
  // As sae train refuses --k with --code sigmoid, also when it is --k's default.
  const std::vector<CodeKind> codes =
      lists.codes.empty() ? std::vector<CodeKind>{o.base.code} : lists.codes;
  for (const std::string& key : o.given) check_applies_to_one_of(key, codes);
  const std::vector<SweepPoint> grid = sweep_grid(o.base, lists);
  const SweepShard shard = choose_shard(o.shard);
  if (o.jobs > 1 && shard.count > 1) {
    throw UsageError("--jobs N runs every shard of this machine's grid; drop --shard (or --jobs)");
  }
  const torch::Device device = resolve_device(o.base.device);
  set_threads(o.base.threads);
  // Data first: a bad data folder must not leave an empty sweep folder behind.
  const Dataset train = load_split(o.base.data_dir, Split::kTrain);
  const Dataset test = load_split(o.base.data_dir, Split::kTest);
  fs::create_directories(o.out);
  const StopRequests stop;  // Ctrl-C between two grid points stops the sweep too, with 130
  if (const int jobs = std::min(o.jobs, static_cast<int>(grid.size())); jobs > 1) {
    std::vector<std::string> point_dirs;
    for (const SweepPoint& point : grid)
      point_dirs.push_back((fs::path(o.out) / point.name).string());
    const int code =
        train_shards_in_processes(common.argv, o.out, jobs, o.base.threads, point_dirs);
    if (code != 0) return code;
    return write_sweep_table(grid, shard, o.out);  // every point is finished now
  }
  return train_sweep(grid, shard, o.out, o.force, train, test, device,
                     default_progress_style(common.quiet));
}

}  // namespace

Command setup_sweep(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "train one run per grid point: each kind of --code with every combination of the lists "
      "that apply to it; writes sweep.csv, sweep.png (the frontier) and index.html");
  const RunConfig defaults;
  cmd->add_option(
         "--code", options->codes,
         fmt::format("kinds of code, e.g. sigmoid,topk ({}; default {})",
                     fmt::join(names_of_kind(defaults.code), ", "), code_name(defaults.code)))
      ->type_name("LIST");
  cmd->add_option("--beta", options->betas,
                  fmt::format("sigmoid, relu: beta values, e.g. 0,0.001,0.005,0.02 (default {})",
                              defaults.beta))
      ->type_name("LIST");
  cmd->add_option("--rho", options->rhos,
                  fmt::format("sigmoid: rho values, e.g. 0.01,0.05,0.1 (default {})", defaults.rho))
      ->type_name("LIST");
  cmd->add_option(
         "--k", options->ks,
         fmt::format("topk, batchtopk: k values, 1..64, e.g. 8,16,32 (default {})", defaults.k))
      ->type_name("LIST");
  cmd->add_option(
         "--l0-coef", options->l0_coefs,
         fmt::format("jumprelu: lambda values, e.g. 0.0001,0.001 (default {})", defaults.l0_coef))
      ->type_name("LIST");
  cmd->add_option("--out", options->out, "folder for the runs, sweep.csv and sweep.png")
      ->required();
  cmd->add_flag("--force", options->force,
                "train again the finished grid points whose settings differ from these");
  cmd->add_option("--jobs", options->jobs,
                  "grid points trained at once, each in its own process with cores/N threads "
                  "unless --threads says otherwise")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--shard", options->shard,
                  "I/N: train only grid points k with k % N == I (0 <= I < N), e.g. one per "
                  "machine or Slurm array task (default: SLURM_ARRAY_TASK_ID of "
                  "SLURM_ARRAY_TASK_COUNT when set)");
  add_run_config_options(*cmd, options->base, kListedSettings);
  add_common_options(*cmd, common);
  return {cmd, [options, &common, cmd] {
            options->given = given_settings(*cmd);
            return run_sweep(*options, common);
          }};
}

}  // namespace sae::commands
