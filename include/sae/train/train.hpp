#pragma once
// Training: Adam on MSE + beta * penalty, one step and one epoch at a time.

#include <torch/torch.h>

#include "sae/base/progress.hpp"
#include "sae/data/dataset.hpp"
#include "sae/model/cpu_step.hpp"
#include "sae/model/loss.hpp"
#include "sae/model/model.hpp"
#include "sae/train/distributed.hpp"
#include "sae/train/run_config.hpp"

#include <functional>
#include <stdexcept>

namespace sae {

/// A loss or weights that became NaN or infinite; the message names the epoch and batch.
class NonFiniteLoss : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Adam (betas 0.9/0.999, eps 1e-8) over the model, with L2 `weight_decay` on the weights only.
torch::optim::Adam make_optimizer(SparseAutoencoder& model, double lr, double weight_decay);

/// One training step on `images` (B, 1, 28, 28): forward, loss, backward, Adam. The gradients
/// come from `cpu_step` when given (CPU images), else from autograd; in a data-parallel `group`,
/// `images` is this rank's slice and the step is the whole batch's. Returns the loss; throws
/// NonFiniteLoss, before the step, when the loss is NaN or infinite.
StepLoss train_step(SparseAutoencoder& model, torch::optim::Adam& optimizer,
                    const torch::Tensor& images, const SparseLoss& loss_fn,
                    CpuStep* cpu_step = nullptr, const ProcessGroup& group = ProcessGroup());

/// The run's loss: MSE + beta * its penalty, with its rho.
SparseLoss run_loss(const RunConfig& config);
/// The loss of step `step` (1-based over the run): beta ramped linearly over `beta_warmup` steps.
SparseLoss warmed_up_loss(const RunConfig& config, int64_t step);

/// One row of steps.csv: the values of one optimizer step, every --log-every steps.
struct StepRecord {
  int64_t step = 0;           ///< optimizer steps over the run, this one included
  int64_t epoch = 0;          ///< 1-based
  double loss = 0.0;          ///< the step's loss on its batch, AuxK included
  double mse = 0.0;           ///< its MSE
  double penalty = 0.0;       ///< what the loss adds to the MSE: beta * penalty, lambda * L0, AuxK
  double l0 = 0.0;            ///< active units per image of the batch
  double lr = 0.0;            ///< Adam's learning rate
  double images_per_s = 0.0;  ///< over the steps since the previous row (of this process)
};

/// Trains epoch cursor.epoch + 1 of `data` from batch cursor.batches on, in the order
/// epoch_order(seed, epoch) gives, advancing the cursor batch by batch. Returns true when the
/// epoch is complete, false when `should_stop` said so after a batch. In a data-parallel `group`
/// each rank trains on its slice of every batch; `should_stop` must then agree across ranks.
/// `log_step`, when set, gets the step of every --log-every.
bool train_epoch(
    SparseAutoencoder& model, torch::optim::Adam& optimizer, const Dataset& data,
    const RunConfig& config, const torch::Device& device, TrainCursor& cursor, ProgressStyle style,
    const std::function<bool()>& should_stop = [] { return false; },
    const ProcessGroup& group = ProcessGroup(),
    const std::function<void(const StepRecord&)>& log_step = {});

/// True when every parameter of `model` is finite.
bool all_finite(SparseAutoencoder& model);

}  // namespace sae
