#pragma once
// The flags several commands share, bound to their options structs in one place.

#include <CLI/CLI.hpp>

#include "sae/data/user_images.hpp"
#include "sae/store/open_model.hpp"
#include "sae/train/device.hpp"
#include "sae/train/run_config.hpp"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sae::commands {

/// A subcommand, set up on the app, and what runs it once it was parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

/// Flags every subcommand has.
struct CommonOptions {
  std::string log_level = "info";
  bool quiet = false;
  std::vector<std::string> argv;  // the command line as given, for `sweep --jobs` to relaunch
};

void add_common_options(CLI::App& cmd, CommonOptions& common);
void add_compute_options(CLI::App& cmd, ComputeOptions& compute);
/// --checkpoint (required) and --data-dir.
void add_source_options(CLI::App& cmd, CheckpointSource& source);

/// The user's own images instead of a data split (sae encode and sae reconstruct).
struct ImageInput {
  std::vector<std::string> paths;  // files or folders of PNGs; empty: the data split
  Invert invert = Invert::kAuto;
};
/// --images PATH... and --invert auto|yes|no.
void add_image_options(CLI::App& cmd, ImageInput& input);
/// The user's images and their files.
struct UserImages {
  std::vector<std::string> files;
  Dataset data;
};
/// The images --images names, every one read and checked (a bad one throws before anything is
/// written); nullopt without --images.
std::optional<UserImages> read_image_input(const ImageInput& input);
/// --batch-size: images per forward pass of an analysis command.
void add_batch_size_option(CLI::App& cmd, int64_t& batch_size);
/// One flag per RunConfig field, from its one table of fields, except the keys in `skip`.
void add_run_config_options(CLI::App& cmd, RunConfig& config, const std::set<std::string>& skip);
/// The settings of a RunConfig that the command line itself gave (call before a config file
/// adds its own), by key.
std::set<std::string> given_settings(const CLI::App& cmd);
/// Refuses, in one line, a setting given on the command line for a code it does not apply to
/// (--k with --code sigmoid), also when it equals its default.
void check_given_settings_apply(const std::set<std::string>& given, CodeKind code);

/// Refuses an empty value, which CLI11 would otherwise read as 0.
extern const CLI::Validator kNonEmpty;

/// "0,0.001,0.005" as numbers; a UsageError naming `flag` for an empty item or one that is not
/// a finite number in full.
std::vector<double> parse_number_list(const char* flag, const std::string& text);

}  // namespace sae::commands
