#pragma once
// A run's settings and how far its training got: one description of the fields, read and written
// by config.toml, checkpoint.json and the command line alike.

#include <nlohmann/json.hpp>

#include "sae/model/loss.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// A run's settings; the defaults are the original model's hyperparameters.
struct RunConfig {
  int64_t epochs = 10;                  ///< passes over the training set
  double beta = 0.005;                  ///< weight of the sparsity penalty
  double rho = 0.01;                    ///< target mean activation of each code unit
  Penalty penalty = Penalty::kKl;       ///< what beta weighs
  int64_t beta_warmup = 0;              ///< optimizer steps over which beta ramps up from 0
  double lr = 1e-3;                     ///< Adam's learning rate
  double weight_decay = 0.0;            ///< L2 on the weights (not the biases), as in UFLDL
  int64_t batch_size = 100;             ///< training images per step
  int64_t test_batch_size = 600;        ///< images per forward pass when evaluating
  uint64_t seed = 42;                   ///< of the initial weights and the data order
  std::string data_dir = "data/mnist";  ///< folder with the four IDX files
  std::string device = "auto";          ///< auto | cpu | cuda | cuda:N
  int threads = 0;                      ///< CPU threads; 0: one per core
};

/// Calls `visit(key, field, help)` for every field of `config`, in file order. The key is the
/// flag's name without its dashes, and the key in config.toml and checkpoint.json.
template <typename Config, typename Visit>
void for_each_field(Config& config, Visit&& visit) {
  visit("epochs", config.epochs, "passes over the training set");
  visit("beta", config.beta, "weight of the sparsity penalty");
  visit("rho", config.rho, "target mean activation of each code unit, in (0, 1)");
  visit("penalty", config.penalty, penalty_help());  // from the kinds' table (sparsity.hpp)
  visit("beta-warmup", config.beta_warmup, "steps over which beta ramps up from 0");
  visit("lr", config.lr, "Adam learning rate");
  visit("weight-decay", config.weight_decay, "L2 on the weights (not the biases)");
  visit("batch-size", config.batch_size, "training images per step");
  visit("test-batch-size", config.test_batch_size, "images per evaluation pass");
  visit("seed", config.seed, "seed of the initial weights and the data order");
  visit("data-dir", config.data_dir, "folder with the four IDX files (.gz or raw)");
  visit("device", config.device, "auto, cpu, cuda or cuda:N (auto picks CUDA when present)");
  visit("threads", config.threads, "CPU threads (0: one per idle core)");
}

/// Checks every field's range; throws UsageError naming the flag, the rule and the value.
void validate(const RunConfig& config);

/// What differs between the settings of two runs, e.g. "--epochs 2, not 3", leaving aside the
/// compute flags (--device, --threads), which do not change what is trained.
std::vector<std::string> setting_differences(const RunConfig& was, const RunConfig& now);

/// The config as TOML with a [train] section: `sae train --config` reads it back.
std::string to_toml(const RunConfig& config);

/// How far training got: enough to continue exactly where an interruption stopped it.
struct TrainCursor {
  int64_t epoch = 0;    ///< epochs completed
  int64_t batches = 0;  ///< batches done of epoch + 1, in the order epoch_order gives
  int64_t steps = 0;    ///< optimizer steps over the whole run
  int64_t images = 0;   ///< images seen in epoch + 1
  double loss_sum = 0.0, mse_sum = 0.0, kl_sum = 0.0;  ///< image-weighted sums over epoch + 1
  double seconds = 0.0;                                ///< training time spent on epoch + 1

  /// The same cursor at the start of the next epoch.
  TrainCursor next_epoch() const;
};

/// Checks the cursor's invariants against the config; throws std::runtime_error naming `where`.
void validate(const TrainCursor& cursor, const RunConfig& config, const std::string& where);

/// Writes every field under its key, as checkpoint.json holds them.
void to_json(nlohmann::json& json, const RunConfig& config);
/// Reads every field (all required) and validates the result.
void from_json(const nlohmann::json& json, RunConfig& config);
// checkpoint.json's "cursor": the fields under their own names, read and written by one list.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TrainCursor, epoch, batches, steps, images, loss_sum, mse_sum,
                                   kl_sum, seconds)

}  // namespace sae
