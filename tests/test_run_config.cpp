#include <fmt/format.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "sae/base/atomic_file.hpp"
#include "sae/base/errors.hpp"
#include "sae/train/run_config.hpp"
#include "test_util.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sae {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNan = std::nan("");

/// Every field but the defaults: a writer or reader that skips a field, or mixes two up, shows.
RunConfig unusual_config() {
  RunConfig c;
  c.epochs = 3;
  c.beta = 0.0125;
  c.rho = 0.035;
  c.penalty = Penalty::kL1;
  c.beta_warmup = 250;
  c.lr = 1e-3 / 3;  // needs all 17 digits to come back exact
  c.weight_decay = 1e-5;
  c.batch_size = 64;
  c.test_batch_size = 512;
  c.seed = 1234567;
  c.data_dir = "data/my \"mnist\" \\ copy";  // quotes and a backslash must be escaped
  c.device = "cpu";
  c.threads = 3;
  return c;
}

/// Each field as key and text (doubles in their shortest exact form): a comparison that does not
/// go through to_json, the code under test.
std::vector<std::pair<std::string, std::string>> field_texts(const RunConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for_each_field(config, [&](const char* key, const auto& value, const char*) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_enum_v<T>) {
      out.emplace_back(key, name_of(value));
    } else {
      out.emplace_back(key, fmt::format("{}", value));
    }
  });
  return out;
}

/// What validate(config) says, or "" when it accepts it.
std::string rejection(const RunConfig& config) {
  try {
    validate(config);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

struct Case {
  const char* flag;  // the flag the message must name
  std::function<void(RunConfig&)> spoil;
};

/// The fields a sigmoid config must leave at their defaults, unusual too: a jumprelu code.
RunConfig unusual_jumprelu_config() {
  RunConfig c = unusual_config();
  c.code = CodeKind::kJumpRelu;
  c.penalty = RunConfig().penalty;
  c.beta = RunConfig().beta;
  c.rho = RunConfig().rho;
  c.l0_coef = 3e-4;
  c.bandwidth = 0.125;
  c.threshold_init = 2.5;
  c.aux_k = 12;
  c.aux_coef = 0.0;
  c.dead_steps = 77;
  c.resample_every = 500;
  return c;
}

TEST(RunConfig, DefaultsAndTheUnusualConfigAreValid) {
  EXPECT_EQ(rejection(RunConfig{}), "");
  EXPECT_EQ(rejection(unusual_config()), "");
  EXPECT_EQ(rejection(unusual_jumprelu_config()), "");
}

// The bad input: a --k outside 1..64, a kind's setting given to another kind, a
// non-positive bandwidth, an --aux-k above 64; each refused naming the flag.
TEST(RunConfig, ValidateRefusesSettingsOfAnotherKindOfCode) {
  RunConfig topk;
  topk.code = CodeKind::kTopK;
  for (const int64_t k : {int64_t{0}, int64_t{65}, int64_t{-1}}) {
    RunConfig c = topk;
    c.k = k;
    EXPECT_NE(rejection(c).find("--k must be between 1 and 64"), std::string::npos) << k;
  }
  topk.k = 64;
  EXPECT_EQ(rejection(topk), "");
  RunConfig sigmoid_with_k;
  sigmoid_with_k.k = 8;
  EXPECT_NE(rejection(sigmoid_with_k).find("--k applies to --code topk and batchtopk, not sigmoid"),
            std::string::npos)
      << rejection(sigmoid_with_k);
  RunConfig topk_with_beta = topk;
  topk_with_beta.beta = 0.1;
  EXPECT_NE(rejection(topk_with_beta).find("--beta applies to --code sigmoid and relu, not topk"),
            std::string::npos)
      << rejection(topk_with_beta);
  RunConfig relu_with_penalty;
  relu_with_penalty.code = CodeKind::kRelu;
  relu_with_penalty.penalty = Penalty::kNone;
  EXPECT_NE(rejection(relu_with_penalty).find("--penalty applies to --code sigmoid"),
            std::string::npos);
  for (const double bandwidth : {0.0, -0.1, kNan, kInf}) {
    RunConfig c = unusual_jumprelu_config();
    c.bandwidth = bandwidth;
    EXPECT_NE(rejection(c).find("--bandwidth must be a positive number"), std::string::npos)
        << bandwidth;
  }
  RunConfig aux = topk;
  aux.aux_k = 65;
  EXPECT_NE(rejection(aux).find("--aux-k must be between 0 and 64"), std::string::npos);
  RunConfig sigmoid_with_aux;
  sigmoid_with_aux.aux_k = 8;
  EXPECT_NE(rejection(sigmoid_with_aux).find("--aux-k applies to"), std::string::npos);
  EXPECT_TRUE(applies_to("k", CodeKind::kBatchTopK));
  EXPECT_FALSE(applies_to("l0-coef", CodeKind::kTopK));
  EXPECT_TRUE(applies_to("epochs", CodeKind::kJumpRelu));
  EXPECT_EQ(effective_penalty(topk), Penalty::kNone);
  RunConfig relu;
  relu.code = CodeKind::kRelu;
  EXPECT_EQ(effective_penalty(relu), Penalty::kL1);
  EXPECT_EQ(effective_penalty(RunConfig{}), Penalty::kKl);
}

TEST(RunConfig, ValidateNamesTheBadFlag) {
  const std::vector<Case> bad = {
      {"--epochs", [](RunConfig& c) { c.epochs = 0; }},
      {"--epochs", [](RunConfig& c) { c.epochs = -3; }},
      {"--rho", [](RunConfig& c) { c.rho = 0.0; }},
      {"--rho", [](RunConfig& c) { c.rho = 1.0; }},
      {"--rho", [](RunConfig& c) { c.rho = -0.5; }},
      {"--rho", [](RunConfig& c) { c.rho = 1.5; }},
      {"--rho", [](RunConfig& c) { c.rho = 1e-300; }},     // 0 in float32
      {"--rho", [](RunConfig& c) { c.rho = 1 - 1e-12; }},  // 1 in float32
      {"--rho", [](RunConfig& c) { c.rho = kNan; }},
      {"--beta", [](RunConfig& c) { c.beta = -1e-3; }},
      {"--beta", [](RunConfig& c) { c.beta = kInf; }},
      {"--beta", [](RunConfig& c) { c.beta = kNan; }},
      {"--lr", [](RunConfig& c) { c.lr = 0.0; }},
      {"--lr", [](RunConfig& c) { c.lr = -1e-3; }},
      {"--lr", [](RunConfig& c) { c.lr = kInf; }},
      {"--lr", [](RunConfig& c) { c.lr = kNan; }},
      {"--weight-decay", [](RunConfig& c) { c.weight_decay = -1.0; }},
      {"--weight-decay", [](RunConfig& c) { c.weight_decay = kInf; }},
      {"--weight-decay", [](RunConfig& c) { c.weight_decay = kNan; }},
      {"--beta-warmup", [](RunConfig& c) { c.beta_warmup = -5; }},
      {"--batch-size", [](RunConfig& c) { c.batch_size = 0; }},
      {"--batch-size", [](RunConfig& c) { c.batch_size = -100; }},
      {"--test-batch-size", [](RunConfig& c) { c.test_batch_size = 0; }},
      {"--threads", [](RunConfig& c) { c.threads = -1; }},
      {"--data-dir", [](RunConfig& c) { c.data_dir = ""; }},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    RunConfig config = unusual_config();
    bad[i].spoil(config);
    const std::string message = rejection(config);
    // "--beta " and not "--beta-warmup": the flag as a whole word.
    EXPECT_NE(message.find(std::string(bad[i].flag) + " "), std::string::npos)
        << "case " << i << " (" << bad[i].flag << "): '" << message << "'";
  }
  // The message says what it got.
  RunConfig zero_epochs;
  zero_epochs.epochs = 0;
  EXPECT_NE(rejection(zero_epochs).find("got 0"), std::string::npos) << rejection(zero_epochs);
}

TEST(RunConfig, ValidateAcceptsEveryRulesEdge) {
  const std::vector<std::function<void(RunConfig&)>> good = {
      [](RunConfig& c) { c.epochs = 1; },
      [](RunConfig& c) { c.rho = 1e-30; },     // tiny, but not 0 in float32
      [](RunConfig& c) { c.rho = 1 - 1e-7; },  // below 1 in float32
      [](RunConfig& c) { c.beta = 0.0; },
      [](RunConfig& c) { c.beta = 1e300; },
      [](RunConfig& c) { c.lr = 1e-300; },
      [](RunConfig& c) { c.weight_decay = 0.0; },
      [](RunConfig& c) { c.beta_warmup = 0; },
      [](RunConfig& c) { c.batch_size = 1; },
      [](RunConfig& c) { c.test_batch_size = 1; },
      [](RunConfig& c) { c.threads = 0; },
  };
  for (size_t i = 0; i < good.size(); ++i) {
    RunConfig config = unusual_config();
    good[i](config);
    EXPECT_EQ(rejection(config), "") << "case " << i;
  }
}

TEST(RunConfig, TomlHoldsEveryFieldWithItsValue) {
  const RunConfig config = unusual_config();
  test::TempDir dir;
  const std::string path = dir / "config.toml";
  write_file_atomically(path, to_toml(config));
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    FAIL() << "to_toml wrote malformed TOML: " << e.description() << "\n" << read_file(path);
  }
  ASSERT_EQ(file.size(), 1u) << read_file(path);
  const toml::table* train = file["train"].as_table();
  ASSERT_NE(train, nullptr) << read_file(path);

  size_t fields = 0;
  for_each_field(config, [&](const char* key, const auto& value, const char*) {
    ++fields;
    using T = std::decay_t<decltype(value)>;
    const toml::node_view<const toml::node> node = (*train)[key];
    ASSERT_TRUE(node) << key << " is missing:\n" << read_file(path);
    if constexpr (std::is_same_v<T, std::string>) {
      EXPECT_EQ(node.value<std::string>(), value) << key;
    } else if constexpr (std::is_enum_v<T>) {
      EXPECT_EQ(node.value<std::string>(), name_of(value)) << key;
    } else if constexpr (std::is_floating_point_v<T>) {
      EXPECT_EQ(node.value<double>(), value) << key;
    } else {
      ASSERT_TRUE(node.is_integer()) << key;
      EXPECT_EQ(static_cast<T>(node.as_integer()->get()), value) << key;
    }
  });
  EXPECT_EQ(train->size(), fields) << "keys that are no field:\n" << read_file(path);
}

TEST(RunConfig, JsonRoundTripGivesTheSameConfigOfEveryCode) {
  const RunConfig jump = unusual_jumprelu_config();
  EXPECT_EQ(field_texts(nlohmann::json(jump).get<RunConfig>()), field_texts(jump));
}

TEST(RunConfig, JsonRoundTripGivesTheSameConfig) {
  const RunConfig config = unusual_config();
  const std::string text = nlohmann::json(config).dump();
  const auto back = nlohmann::json::parse(text).get<RunConfig>();
  EXPECT_EQ(field_texts(back), field_texts(config));
  EXPECT_NE(field_texts(back), field_texts(RunConfig{}));  // the comparison sees differences
}

TEST(RunConfig, FromJsonRefusesABadValueAWrongTypeAndAMissingKey) {
  const nlohmann::json good = unusual_config();
  EXPECT_NO_THROW(good.get<RunConfig>());

  nlohmann::json bad_rho = good;
  bad_rho["rho"] = 2;
  try {
    bad_rho.get<RunConfig>();
    FAIL() << "rho 2 was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--rho "), std::string::npos) << e.what();
  }

  nlohmann::json bad_penalty = good;
  bad_penalty["penalty"] = "l2";
  EXPECT_THROW(bad_penalty.get<RunConfig>(), UsageError);

  nlohmann::json wrong_type = good;
  wrong_type["epochs"] = "ten";
  EXPECT_THROW(wrong_type.get<RunConfig>(), nlohmann::json::exception);

  // A file written before the kinds of code (or the validation split, or steps.csv) lacks their
  // settings: they read as the defaults.
  const std::set<std::string> later = {
      "code",     "k",          "l0-coef",        "bandwidth",      "aux-k",
      "aux-coef", "dead-steps", "resample-every", "threshold-init", "val-fraction",
      "val-size", "log-every"};
  for (const auto& item : good.items()) {
    nlohmann::json missing = good;
    missing.erase(item.key());
    if (later.count(item.key()) > 0) {
      EXPECT_NO_THROW(missing.get<RunConfig>()) << item.key();
    } else {
      EXPECT_THROW(missing.get<RunConfig>(), nlohmann::json::exception) << item.key();
    }
  }
}

TrainCursor unusual_cursor() {
  TrainCursor c;
  c.epoch = 2;
  c.batches = 3;
  c.steps = 45;
  c.images = 3 * 64 - 10;
  c.loss_sum = 0.1 + 0.2;  // not exactly 0.3: the text must keep every bit
  c.mse_sum = 1.0 / 3;
  c.kl_sum = 1e-17;
  c.seconds = 12.5;
  c.silent_steps.assign(kCodeSize, 3);
  c.silent_steps[5] = 45;
  return c;
}

TEST(RunConfig, CursorJsonRoundTripKeepsEveryBit) {
  const TrainCursor cursor = unusual_cursor();
  const auto back = nlohmann::json::parse(nlohmann::json(cursor).dump()).get<TrainCursor>();
  EXPECT_EQ(back.epoch, cursor.epoch);
  EXPECT_EQ(back.batches, cursor.batches);
  EXPECT_EQ(back.steps, cursor.steps);
  EXPECT_EQ(back.images, cursor.images);
  EXPECT_EQ(back.loss_sum, cursor.loss_sum);
  EXPECT_EQ(back.mse_sum, cursor.mse_sum);
  EXPECT_EQ(back.kl_sum, cursor.kl_sum);
  EXPECT_EQ(back.seconds, cursor.seconds);
  EXPECT_EQ(back.silent_steps, cursor.silent_steps);

  nlohmann::json missing = cursor;
  missing.erase("steps");
  EXPECT_THROW(missing.get<TrainCursor>(), nlohmann::json::exception);
  nlohmann::json older = cursor;  // written before dead units were tracked
  older.erase("silent_steps");
  EXPECT_TRUE(older.get<TrainCursor>().silent_steps.empty());
  EXPECT_EQ(dead_unit_count(older.get<TrainCursor>(), 1), 0);
  EXPECT_EQ(dead_unit_count(cursor, 45), 1);
  EXPECT_EQ(dead_unit_count(cursor, 3), kCodeSize);
}

TEST(RunConfig, NextEpochKeepsOnlyTheEpochAndTheSteps) {
  const TrainCursor next = unusual_cursor().next_epoch();
  EXPECT_EQ(next.epoch, 3);
  EXPECT_EQ(next.steps, 45);
  EXPECT_EQ(next.batches, 0);
  EXPECT_EQ(next.images, 0);
  EXPECT_EQ(next.loss_sum, 0.0);
  EXPECT_EQ(next.mse_sum, 0.0);
  EXPECT_EQ(next.kl_sum, 0.0);
  EXPECT_EQ(next.seconds, 0.0);
}

TEST(RunConfig, ValidateCursorRefusesImpossibleCountsAndSumsNamingWhere) {
  const RunConfig config = unusual_config();  // batches of 64
  const std::string where = "runs/x/checkpoint.json";
  EXPECT_NO_THROW(validate(unusual_cursor(), config, where));
  EXPECT_NO_THROW(validate(TrainCursor{}, config, where));
  TrainCursor full = unusual_cursor();
  full.images = full.batches * config.batch_size;  // every batch full
  EXPECT_NO_THROW(validate(full, config, where));

  const std::vector<std::pair<const char*, std::function<void(TrainCursor&)>>> bad = {
      {"negative epoch", [](TrainCursor& c) { c.epoch = -1; }},
      {"negative batches", [](TrainCursor& c) { c.batches = -1; }},
      {"negative steps", [](TrainCursor& c) { c.steps = -1; }},
      {"negative images", [](TrainCursor& c) { c.images = -1; }},
      {"more images than batches hold", [](TrainCursor& c) { c.images = 3 * 64 + 1; }},
      {"fewer images than batches", [](TrainCursor& c) { c.images = 2; }},
      {"fewer steps than batches", [](TrainCursor& c) { c.steps = 2; }},
      {"NaN loss", [](TrainCursor& c) { c.loss_sum = kNan; }},
      {"infinite mse", [](TrainCursor& c) { c.mse_sum = kInf; }},
      {"NaN kl", [](TrainCursor& c) { c.kl_sum = kNan; }},
      {"infinite seconds", [](TrainCursor& c) { c.seconds = kInf; }},
      {"negative loss", [](TrainCursor& c) { c.loss_sum = -1.0; }},
  };
  for (const auto& [what, spoil] : bad) {
    TrainCursor cursor = unusual_cursor();
    spoil(cursor);
    try {
      validate(cursor, config, where);
      ADD_FAILURE() << what << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(where + ": ", 0), 0u) << what << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace sae
