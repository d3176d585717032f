#pragma once
// A run's settings and how far its training got: one description of the fields, read and written
// by config.toml, checkpoint.json and the command line alike.

#include <nlohmann/json.hpp>

#include "sae/model/code.hpp"
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
  Penalty penalty = Penalty::kKl;       ///< what beta weighs (sigmoid codes)
  CodeKind code = CodeKind::kSigmoid;   ///< how the code is made from enc3's output
  int64_t k = 16;                       ///< topk, batchtopk: units kept per image
  double l0_coef = 1e-3;                ///< jumprelu: lambda, the weight of its L0 penalty
  double bandwidth = 0.05;              ///< jumprelu: epsilon of theta's straight-through estimator
  double threshold_init = 10.0;         ///< jumprelu: theta's starting value
  int64_t aux_k = 32;                   ///< AuxK: dead units lent to the decoder per image
  double aux_coef = 1.0;                ///< AuxK's weight; 0 turns it off
  int64_t dead_steps = 20;              ///< a unit silent for this many steps is dead
  int64_t resample_every = 0;           ///< steps between resamplings of dead units; 0: never
  int64_t beta_warmup = 0;              ///< optimizer steps over which beta ramps up from 0
  double lr = 1e-3;                     ///< Adam's learning rate
  double weight_decay = 0.0;            ///< L2 on the weights (not the biases), as in UFLDL
  int64_t batch_size = 100;             ///< training images per step
  int64_t test_batch_size = 600;        ///< images per forward pass when evaluating
  uint64_t seed = 42;                   ///< of the initial weights and the data order
  std::string data_dir = "data/mnist";  ///< folder of IDX files, ImageFolder splits or NPY arrays
  double val_fraction = 0.0;            ///< of the training set held out for validation
  int64_t val_size = 0;                 ///< training images held out (instead of the fraction)
  int64_t log_every = 50;               ///< steps between rows of steps.csv
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
  visit("penalty", config.penalty, penalty_help());  // from the penalties' table (sparsity.hpp)
  visit("code", config.code, code_help());           // from the codes' table (code.hpp)
  visit("k", config.k, "topk, batchtopk: units kept per image (on average for batchtopk), 1..64");
  visit("l0-coef", config.l0_coef, "jumprelu: lambda, the weight of its L0 penalty");
  visit("bandwidth", config.bandwidth, "jumprelu: width of the threshold's gradient window, > 0");
  visit("threshold-init", config.threshold_init,
        "jumprelu: the thresholds' starting value (theta moves about --lr per step)");
  visit("aux-k", config.aux_k, "AuxK: dead units lent to the decoder per image, 0..64");
  visit("aux-coef", config.aux_coef,
        "AuxK: its weight (OpenAI's 1/32 left units dead here; 0: off)");
  visit("dead-steps", config.dead_steps,
        "a unit that fired on no image for this many steps is dead");
  visit("resample-every", config.resample_every,
        "steps between resamplings of dead units (Anthropic's); 0: never");
  visit("beta-warmup", config.beta_warmup, "steps over which beta ramps up from 0");
  visit("lr", config.lr, "Adam learning rate");
  visit("weight-decay", config.weight_decay, "L2 on the weights (not the biases)");
  visit("batch-size", config.batch_size, "training images per step");
  visit("test-batch-size", config.test_batch_size, "images per evaluation pass");
  visit("seed", config.seed, "seed of the initial weights and the data order");
  visit("data-dir", config.data_dir,
        "data folder: the four IDX files (.gz or raw), train/ and test/ image folders "
        "(torchvision's ImageFolder), or train-images.npy and test-images.npy");
  visit("val-fraction", config.val_fraction,
        "fraction of the training set held out (seeded) for the per-epoch evaluation, in [0, 1); "
        "0: evaluate on the test set each epoch");
  visit("val-size", config.val_size,
        "training images held out for validation (instead of "
        "--val-fraction)");
  visit("log-every", config.log_every, "steps between rows of steps.csv");
  visit("device", config.device, "auto, cpu, cuda or cuda:N (auto picks CUDA when present)");
  visit("threads", config.threads, "CPU threads (0: one per idle core)");
}

/// Checks every field's range; throws UsageError naming the flag, the rule and the value. A field
/// that does not apply to the config's code must keep its default.
void validate(const RunConfig& config);

/// True when the field under `key` means something for codes of kind `code` (--k for topk, ...).
bool applies_to(const std::string& key, CodeKind code);
/// "--k applies to --code topk and batchtopk, not sigmoid", for a field given to the wrong code.
std::string does_not_apply(const std::string& key, CodeKind code);

/// The model a config trains: its code's kind and settings.
CodeSpec code_spec(const RunConfig& config);
/// True when `config` holds out training images to score each epoch on (--val-fraction/--val-size).
bool has_validation(const RunConfig& config);
/// The penalty beta weighs for the config's code (sigmoid: --penalty; relu: L1; others: none).
Penalty effective_penalty(const RunConfig& config);

/// What differs between the settings of two runs, e.g. "--epochs 2, not 3", leaving aside the
/// flags that do not change what is trained (--device, --threads, --log-every).
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
  /// (64) steps since each unit last fired on an image; empty reads as all 0 (older files).
  std::vector<int64_t> silent_steps;

  /// The same cursor at the start of the next epoch.
  TrainCursor next_epoch() const;
};

/// (64) 1 where a unit has been silent for at least `dead_steps` steps.
std::vector<uint8_t> dead_units(const TrainCursor& cursor, int64_t dead_steps);
/// The number of such units.
int64_t dead_unit_count(const TrainCursor& cursor, int64_t dead_steps);

/// Checks the cursor's invariants against the config; throws std::runtime_error naming `where`.
void validate(const TrainCursor& cursor, const RunConfig& config, const std::string& where);

/// Writes every field under its key, as checkpoint.json holds them.
void to_json(nlohmann::json& json, const RunConfig& config);
/// Reads every field (all required) and validates the result.
void from_json(const nlohmann::json& json, RunConfig& config);
/// checkpoint.json's "cursor": the fields under their own names.
void to_json(nlohmann::json& json, const TrainCursor& cursor);
/// Reads every field, all required but silent_steps, which files written before it lack.
void from_json(const nlohmann::json& json, TrainCursor& cursor);

}  // namespace sae
