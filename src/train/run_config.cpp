#include "sae/train/run_config.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <type_traits>

namespace sae {
namespace {

template <typename T>
void require(bool ok, const char* flag, const char* rule, const T& value) {
  if (!ok) throw UsageError(fmt::format("--{} must be {}, got {}", flag, rule, value));
}

/// A TOML basic string: escaped like JSON's, plus DEL, which TOML also forbids raw.
std::string quoted(const std::string& text) {
  std::string out;
  for (const char c : nlohmann::json(text).dump()) {
    out += c == '\x7f' ? std::string("\\u007F") : std::string(1, c);
  }
  return out;
}

/// True when `text` is well-formed UTF-8, which JSON and TOML files require.
bool is_utf8(const std::string& text) {
  try {
    static_cast<void>(nlohmann::json(text).dump());
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

/// The kinds each field that not every code reads applies to.
const std::map<std::string, std::vector<CodeKind>>& code_fields() {
  using K = CodeKind;
  static const std::map<std::string, std::vector<CodeKind>> fields = {
      {"penalty", {K::kSigmoid}},
      {"rho", {K::kSigmoid}},
      {"beta", {K::kSigmoid, K::kRelu}},
      {"k", {K::kTopK, K::kBatchTopK}},
      {"l0-coef", {K::kJumpRelu}},
      {"bandwidth", {K::kJumpRelu}},
      {"threshold-init", {K::kJumpRelu}},
      {"aux-k", {K::kRelu, K::kTopK, K::kBatchTopK, K::kJumpRelu}},
      {"aux-coef", {K::kRelu, K::kTopK, K::kBatchTopK, K::kJumpRelu}},
  };
  return fields;
}

// Fields that checkpoint.json files written before them lack; they read as their defaults.
const std::set<std::string> kLaterFields = {
    "code",     "k",          "l0-coef",        "bandwidth",    "threshold-init", "aux-k",
    "aux-coef", "dead-steps", "resample-every", "val-fraction", "val-size",       "log-every"};

}  // namespace

bool applies_to(const std::string& key, CodeKind code) {
  const auto& fields = code_fields();
  const auto found = fields.find(key);
  if (found == fields.end()) return true;
  return std::find(found->second.begin(), found->second.end(), code) != found->second.end();
}

std::string does_not_apply(const std::string& key, CodeKind code) {
  std::vector<std::string> names;
  for (const CodeKind kind : code_fields().at(key)) names.push_back(code_name(kind));
  return fmt::format("--{} applies to --code {}, not {}", key, fmt::join(names, " and "),
                     code_name(code));
}

CodeSpec code_spec(const RunConfig& config) {
  return {config.code, config.k, config.bandwidth, config.threshold_init};
}

bool has_validation(const RunConfig& config) {
  return config.val_size > 0 || config.val_fraction > 0;
}

Penalty effective_penalty(const RunConfig& config) {
  return code_of(config.code).penalty(config.penalty);
}

void validate(const RunConfig& c) {
  require(c.epochs >= 1, "epochs", "at least 1", c.epochs);
  // The rules SparseLoss checks (loss.hpp), with the flags' messages.
  require(valid_rho(c.rho), "rho", "strictly between 0 and 1 (in float32)", c.rho);
  require(valid_beta(c.beta), "beta", "a finite number >= 0", c.beta);
  require(c.beta_warmup >= 0, "beta-warmup", ">= 0", c.beta_warmup);
  require(c.lr > 0 && std::isfinite(c.lr), "lr", "a positive number", c.lr);
  require(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "weight-decay",
          "a finite number >= 0", c.weight_decay);
  require(c.batch_size >= 1, "batch-size", "at least 1", c.batch_size);
  require(c.test_batch_size >= 1, "test-batch-size", "at least 1", c.test_batch_size);
  require(!c.data_dir.empty(), "data-dir", "a folder", "''");
  if (!is_utf8(c.data_dir)) {
    throw UsageError(
        "--data-dir must be valid UTF-8 (it is stored in config.toml and "
        "checkpoint.json); rename the folder or link to it from a UTF-8 path");
  }
  if (!is_utf8(c.device)) throw UsageError("--device must be valid UTF-8");
  require(c.threads >= 0, "threads", "0 (one per core) or more", c.threads);
  require(c.k >= 1 && c.k <= kCodeSize, "k", "between 1 and 64 (the code's units)", c.k);
  require(c.l0_coef >= 0 && std::isfinite(c.l0_coef), "l0-coef", "a finite number >= 0", c.l0_coef);
  require(c.bandwidth > 0 && std::isfinite(c.bandwidth), "bandwidth", "a positive number",
          c.bandwidth);
  require(std::isfinite(c.threshold_init), "threshold-init", "a finite number", c.threshold_init);
  require(c.aux_k >= 0 && c.aux_k <= kCodeSize, "aux-k", "between 0 and 64 (the code's units)",
          c.aux_k);
  require(c.aux_coef >= 0 && std::isfinite(c.aux_coef), "aux-coef", "a finite number >= 0",
          c.aux_coef);
  require(c.dead_steps >= 1, "dead-steps", "at least 1", c.dead_steps);
  require(c.val_fraction >= 0 && c.val_fraction < 1, "val-fraction", "in [0, 1)", c.val_fraction);
  require(c.val_size >= 0, "val-size", "0 (none) or more", c.val_size);
  if (c.val_size > 0 && c.val_fraction > 0) {
    throw UsageError(
        fmt::format("--val-size {} and --val-fraction {} both say how many images to "
                    "hold out; give one",
                    c.val_size, c.val_fraction));
  }
  require(c.log_every >= 1, "log-every", "at least 1", c.log_every);
  require(c.resample_every >= 0, "resample-every", "0 (never) or more", c.resample_every);
  // A setting of another kind of code would be stored and silently ignored: refuse it.
  const nlohmann::json given = c;
  const nlohmann::json defaults = RunConfig();
  for (const auto& [key, kinds] : code_fields()) {
    if (!applies_to(key, c.code) && given.at(key) != defaults.at(key)) {
      throw UsageError(fmt::format("{} (it is {} here; drop it)", does_not_apply(key, c.code),
                                   given.at(key).dump()));
    }
  }
  // TOML integers are signed 64-bit: a larger seed could not be read back from config.toml.
  require(c.seed <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), "seed",
          "at most 9223372036854775807", c.seed);
}

std::string to_toml(const RunConfig& config) {
  std::string out = "[train]\n";
  for_each_field(config, [&](const char* key, const auto& value, const char*) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, std::string>) {
      out += fmt::format("{} = {}\n", key, quoted(value));
    } else if constexpr (std::is_enum_v<T>) {
      out += fmt::format("{} = {}\n", key, quoted(name_of(value)));
    } else if constexpr (std::is_floating_point_v<T>) {
      // The shortest exact form, kept a TOML float: 2 would read back as an integer.
      std::string number = fmt::format("{}", value);
      if (number.find_first_of(".en") == std::string::npos) number += ".0";
      out += fmt::format("{} = {}\n", key, number);
    } else {
      out += fmt::format("{} = {}\n", key, value);
    }
  });
  return out;
}

std::vector<std::string> setting_differences(const RunConfig& was, const RunConfig& now) {
  const nlohmann::json before = was;
  const nlohmann::json after = now;
  std::vector<std::string> differences;
  for (const auto& [key, value] : before.items()) {
    if (key == "device" || key == "threads" || key == "log-every" || after.at(key) == value) {
      continue;
    }
    differences.push_back(fmt::format("--{} {}, not {}", key, value.dump(), after.at(key).dump()));
  }
  return differences;
}

TrainCursor TrainCursor::next_epoch() const {
  TrainCursor next;
  next.epoch = epoch + 1;
  next.steps = steps;
  next.silent_steps = silent_steps;
  return next;
}

std::vector<uint8_t> dead_units(const TrainCursor& cursor, int64_t dead_steps) {
  std::vector<uint8_t> dead(kCodeSize, 0);
  for (size_t j = 0; j < cursor.silent_steps.size() && j < dead.size(); ++j) {
    dead[j] = cursor.silent_steps[j] >= dead_steps ? 1 : 0;
  }
  return dead;
}

int64_t dead_unit_count(const TrainCursor& cursor, int64_t dead_steps) {
  const auto dead = dead_units(cursor, dead_steps);
  return std::count(dead.begin(), dead.end(), uint8_t{1});
}

void validate(const TrainCursor& c, const RunConfig& config, const std::string& where) {
  const auto fail = [&](const std::string& what) {
    throw std::runtime_error(fmt::format("{}: {}", where, what));
  };
  if (c.epoch < 0 || c.batches < 0 || c.steps < 0 || c.images < 0) {
    fail(fmt::format("negative counts (epoch {}, batches {}, steps {}, images {})", c.epoch,
                     c.batches, c.steps, c.images));
  }
  int64_t most_images = 0;  // batches * batch_size, which a crafted cursor could overflow
  const bool huge = __builtin_mul_overflow(c.batches, config.batch_size, &most_images);
  if ((!huge && c.images > most_images) || c.images < c.batches) {
    fail(fmt::format("{} images cannot come from {} batches of at most {}", c.images, c.batches,
                     config.batch_size));
  }
  if (c.steps < c.batches) fail(fmt::format("{} steps but {} batches", c.steps, c.batches));
  if (!c.silent_steps.empty() && static_cast<int64_t>(c.silent_steps.size()) != kCodeSize) {
    fail(fmt::format("silent_steps has {} entries, expected {}", c.silent_steps.size(), kCodeSize));
  }
  for (const int64_t s : c.silent_steps) {
    if (s < 0 || s > c.steps) fail(fmt::format("a unit silent for {} of {} steps", s, c.steps));
  }
  for (const double v : {c.loss_sum, c.mse_sum, c.kl_sum, c.seconds}) {
    if (!std::isfinite(v) || v < 0) fail(fmt::format("a running sum is {}", v));
  }
}

void to_json(nlohmann::json& json, const RunConfig& config) {
  json = nlohmann::json::object();
  for_each_field(config, [&](const char* key, const auto& value, const char*) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_enum_v<T>) {
      json[key] = name_of(value);
    } else {
      json[key] = value;
    }
  });
}

void from_json(const nlohmann::json& json, RunConfig& config) {
  for_each_field(config, [&](const char* key, auto& value, const char*) {
    using T = std::decay_t<decltype(value)>;
    if (!json.contains(key) && kLaterFields.count(key) > 0) return;  // the default
    if constexpr (std::is_enum_v<T>) {
      value = parse_name(json.at(key).get<std::string>(), value);
    } else {
      value = json.at(key).get<T>();
    }
  });
  validate(config);
}

void to_json(nlohmann::json& json, const TrainCursor& c) {
  json = {{"epoch", c.epoch},   {"batches", c.batches},   {"steps", c.steps},
          {"images", c.images}, {"loss_sum", c.loss_sum}, {"mse_sum", c.mse_sum},
          {"kl_sum", c.kl_sum}, {"seconds", c.seconds},   {"silent_steps", c.silent_steps}};
}

void from_json(const nlohmann::json& json, TrainCursor& c) {
  json.at("epoch").get_to(c.epoch);
  json.at("batches").get_to(c.batches);
  json.at("steps").get_to(c.steps);
  json.at("images").get_to(c.images);
  json.at("loss_sum").get_to(c.loss_sum);
  json.at("mse_sum").get_to(c.mse_sum);
  json.at("kl_sum").get_to(c.kl_sum);
  json.at("seconds").get_to(c.seconds);
  c.silent_steps.clear();
  if (json.contains("silent_steps")) json.at("silent_steps").get_to(c.silent_steps);
}

}  // namespace sae
