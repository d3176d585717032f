#include "options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sae/base/errors.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <type_traits>

namespace sae::commands {

const CLI::Validator kNonEmpty(
    [](std::string& value) { return value.empty() ? std::string("a value is required") : ""; }, "",
    "non-empty");

std::vector<double> parse_number_list(const char* flag, const std::string& text) {
  std::vector<double> numbers;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    double value = 0;
    const auto [rest, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || error != std::errc() || rest != item.data() + item.size() ||
        !std::isfinite(value)) {
      throw UsageError(fmt::format(
          "{} {}: item {} is {}; expected numbers separated by commas, e.g. 0,0.001,0.005", flag,
          text, numbers.size() + 1, item.empty() ? "empty" : "'" + item + "', not a number"));
    }
    numbers.push_back(value);
    if (end == text.size()) return numbers;
    begin = end + 1;
  }
}

namespace {

/// Refuses a sign on an unsigned value, which strtoull would silently wrap (-1 -> 2^64 - 1).
const CLI::Validator kUnsigned(
    [](std::string& value) {
      return value.find('-') != std::string::npos ? std::string("must not be negative") : "";
    },
    "", "unsigned");

/// Refuses an integer beyond T's range, which CLI11 would silently clamp (2^64 -> 2^64 - 1).
template <typename T>
CLI::Validator within_range_of() {
  return CLI::Validator(
      [](std::string& value) {
        T parsed{};
        const char* begin = value.data() + (value.rfind('+', 0) == 0 ? 1 : 0);
        const auto result = std::from_chars(begin, value.data() + value.size(), parsed);
        return result.ec == std::errc::result_out_of_range
                   ? fmt::format("{} is out of range (at most {})", value,
                                 std::numeric_limits<T>::max())
                   : std::string();
      },
      "", "within range");
}

/// An enum setting's names -> values (--penalty, --code), from its kinds' table.
template <typename T>
std::map<std::string, T> names_to_values(T example) {
  std::map<std::string, T> names;
  for (const std::string& name : names_of_kind(example))
    names.emplace(name, parse_name(name, example));
  return names;
}

/// "{kl,l1,none}", in the table's order.
template <typename T>
std::string enum_type_name(T example) {
  return "{" + fmt::format("{}", fmt::join(names_of_kind(example), ",")) + "}";
}

}  // namespace

void add_common_options(CLI::App& cmd, CommonOptions& common) {
  cmd.add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str()
      ->configurable(false);
  cmd.add_flag("-q,--quiet", common.quiet, "warnings and errors only, no progress")
      ->configurable(false);
}

void add_compute_options(CLI::App& cmd, ComputeOptions& compute) {
  cmd.add_option("--device", compute.device,
                 "auto, cpu, cuda or cuda:N (auto picks CUDA when present)")
      ->check(kNonEmpty)
      ->capture_default_str();
  cmd.add_option("--threads", compute.threads, "CPU threads (0: one per idle core)")
      ->check(kNonEmpty)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

void add_source_options(CLI::App& cmd, CheckpointSource& source) {
  cmd.add_option("--checkpoint", source.checkpoint, "a run folder, or its model.pt")->required();
  cmd.add_option("--data-dir", source.data_dir,
                 "folder with the IDX files (default: the one it was trained on)");
}

void add_image_options(CLI::App& cmd, ImageInput& input) {
  cmd.add_option("--images", input.paths,
                 "your own images (PNG files, or folders of them) instead of the data split: "
                 "each is made MNIST-like (gray, fitted into 20x20, centred in 28x28)")
      ->check(kNonEmpty);
  const std::map<std::string, Invert> inverts = {
      {"auto", Invert::kAuto}, {"yes", Invert::kYes}, {"no", Invert::kNo}};
  cmd.add_option("--invert", input.invert,
                 "make the ink white on black, as MNIST's: auto inverts a mostly light image")
      ->transform(CLI::CheckedTransformer(inverts, CLI::ignore_case).description(""))
      ->type_name("{auto,yes,no}")
      ->default_str("auto");
}

std::optional<UserImages> read_image_input(const ImageInput& input) {
  std::vector<std::string> files = expand_image_paths(input.paths);
  if (files.empty()) return std::nullopt;
  Dataset data = load_user_images(files, input.invert);
  return UserImages{std::move(files), std::move(data)};
}

void add_batch_size_option(CLI::App& cmd, int64_t& batch_size) {
  cmd.add_option("--batch-size", batch_size, "images per forward pass")
      ->check(kNonEmpty)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void add_run_config_options(CLI::App& cmd, RunConfig& config, const std::set<std::string>& skip) {
  for_each_field(config, [&](const char* key, auto& value, const char* help) {
    if (skip.count(key) > 0) return;
    using T = std::decay_t<decltype(value)>;
    CLI::Option* option = cmd.add_option(std::string("--") + key, value, help);
    option->capture_default_str();
    if constexpr (std::is_enum_v<T>) {
      option->transform(
          CLI::CheckedTransformer(names_to_values(value), CLI::ignore_case).description(""));
      option->type_name(enum_type_name(value));
      option->default_str(name_of(value));
    } else {
      option->check(kNonEmpty);
    }
    if constexpr (std::is_unsigned_v<T>) option->check(kUnsigned);
    if constexpr (std::is_integral_v<T>) option->check(within_range_of<T>());
  });
}

std::set<std::string> given_settings(const CLI::App& cmd) {
  std::set<std::string> given;
  RunConfig keys;
  for_each_field(keys, [&](const char* key, auto&, const char*) {
    const CLI::Option* option = cmd.get_option_no_throw(std::string("--") + key);
    if (option != nullptr && option->count() > 0) given.insert(key);
  });
  return given;
}

void check_given_settings_apply(const std::set<std::string>& given, CodeKind code) {
  for (const std::string& key : given) {
    if (!applies_to(key, code)) throw UsageError(does_not_apply(key, code));
  }
}

}  // namespace sae::commands
