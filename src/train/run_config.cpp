#include "sae/train/run_config.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"

#include <cmath>
#include <limits>
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

}  // namespace

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
    } else if constexpr (std::is_same_v<T, Penalty>) {
      out += fmt::format("{} = {}\n", key, quoted(penalty_name(value)));
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
    if (key == "device" || key == "threads" || after.at(key) == value) continue;
    differences.push_back(fmt::format("--{} {}, not {}", key, value.dump(), after.at(key).dump()));
  }
  return differences;
}

TrainCursor TrainCursor::next_epoch() const {
  TrainCursor next;
  next.epoch = epoch + 1;
  next.steps = steps;
  return next;
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
  for (const double v : {c.loss_sum, c.mse_sum, c.kl_sum, c.seconds}) {
    if (!std::isfinite(v) || v < 0) fail(fmt::format("a running sum is {}", v));
  }
}

void to_json(nlohmann::json& json, const RunConfig& config) {
  json = nlohmann::json::object();
  for_each_field(config, [&](const char* key, const auto& value, const char*) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, Penalty>) {
      json[key] = penalty_name(value);
    } else {
      json[key] = value;
    }
  });
}

void from_json(const nlohmann::json& json, RunConfig& config) {
  for_each_field(config, [&](const char* key, auto& value, const char*) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, Penalty>) {
      value = parse_penalty(json.at(key).get<std::string>());
    } else {
      value = json.at(key).get<T>();
    }
  });
  validate(config);
}

}  // namespace sae
