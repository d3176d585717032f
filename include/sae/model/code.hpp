#pragma once
// The kinds of code, in one seam: how enc3's output z (its pre-activations) becomes the code h,
// as torch autograd (the reference and the GPU) and as forward/backward for the hand-written CPU
// step. One file per kind in src/model/code/: a new kind is that file, its value in CodeKind
// below, and its line in kinds.hpp and registry.cpp. The penalty beta weighs on rho_hat (KL, L1)
// is the other seam, sparsity.hpp.

#include <torch/torch.h>

#include "sae/model/sparsity.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// Units in the sparse code: enc3's 64 output channels at 1x1.
constexpr int64_t kCodeSize = 64;

/// Which activation makes the code from the pre-activations z.
enum class CodeKind {
  kSigmoid,    // sigmoid(z), with --penalty: the original model's
  kRelu,       // relu(z), with an L1 penalty
  kTopK,       // relu of each image's k largest z (Gao et al. 2024)
  kBatchTopK,  // relu of the batch's k*B largest z; a threshold at inference (Bussmann et al.)
  kJumpRelu,   // relu(z) where z > theta_j, theta learned (Rajamanoharan et al. 2024)
};

/// A kind of code and the settings its activation reads.
struct CodeSpec {
  CodeKind kind = CodeKind::kSigmoid;
  int64_t k = 0;           ///< topk, batchtopk: units kept per image (on average for batchtopk)
  double bandwidth = 0.0;  ///< jumprelu: the width epsilon of the straight-through rectangle
  double threshold_init = 10.0;  ///< jumprelu: theta's starting value
};

/// The tensors of the model that its kind of code learns or keeps; undefined for other kinds.
struct CodeTensors {
  torch::Tensor theta;      ///< jumprelu: (64) parameter "threshold", one per unit
  torch::Tensor threshold;  ///< batchtopk: (1) buffer, the inference threshold
};

/// The pre-activations z of the whole batch, (B, 64) float on the CPU, that the CPU step gives
/// its code kind between the encoder and the decoder.
struct CpuCodeBatch {
  const float* pre = nullptr;  ///< (rows, 64)
  float* code = nullptr;       ///< (rows, 64), written by activation_cpu
  int64_t rows = 0;
};

/// One kind of code.
class Code {
 public:
  virtual ~Code() = default;

  /// Its value in the CodeKind enum.
  virtual CodeKind kind() const = 0;
  /// The name --code, config.toml and checkpoint.json use, e.g. "topk".
  virtual const char* name() const = 0;
  /// What --code's help says of it.
  virtual const char* help() const = 0;

  /// A unit is active (counts in L0, is alive) on an image when above this: 0 but for sigmoid.
  virtual double active_threshold() const { return 0.0; }
  /// The penalty beta weighs when --penalty asks for `requested`: only sigmoid codes choose.
  virtual Penalty penalty(Penalty requested) const = 0;
  /// True when the code is relu(z) on some units and 0 elsewhere, so that AuxK can lend the
  /// dead units' relu(z) to the decoder.
  virtual bool relu_family() const { return true; }

  /// The code for autograd: z (B, 64) -> h (B, 64). In training, batchtopk selects over the
  /// batch and moves its inference threshold.
  virtual torch::Tensor activation(const torch::Tensor& z, const CodeSpec& spec,
                                   const CodeTensors& tensors, bool training) const = 0;
  /// The penalty the kind brings itself, for autograd (jumprelu: the mean L0, whose gradient
  /// reaches theta only); an undefined tensor for the others.
  virtual torch::Tensor own_penalty(const torch::Tensor& z, const CodeSpec& spec,
                                    const CodeTensors& tensors) const;

  /// The same activation on the CPU step's buffers, over the whole batch.
  virtual void activation_cpu(const CpuCodeBatch& batch, const CodeSpec& spec,
                              const CodeTensors& tensors, bool training) const = 0;
  /// Its backward for `rows` images: d (rows, 64) <- d loss / d z from d loss / d h, given z and
  /// h. Adds d loss / d theta into d_theta (64) when the kind has one.
  virtual void activation_backward_cpu(const float* z, const float* h, float* d, int64_t rows,
                                       const CodeSpec& spec, const CodeTensors& tensors,
                                       float* d_theta) const = 0;
  /// own_penalty on the CPU for `rows` images: returns its sum over them (the caller divides by
  /// the batch) and adds `scale` * its gradient in theta into d_theta (64).
  virtual double own_penalty_cpu(const float* z, int64_t rows, const CodeSpec& spec,
                                 const CodeTensors& tensors, float scale, float* d_theta) const;
};

/// Every kind, in the order --code lists them.
const std::vector<const Code*>& code_kinds();
/// The kind `kind` names.
const Code& code_of(CodeKind kind);

/// "sigmoid", "relu", "topk", "batchtopk" or "jumprelu" -> CodeKind; throws UsageError otherwise.
CodeKind parse_code(const std::string& name);
/// CodeKind -> its name.
std::string code_name(CodeKind kind);
/// --code's help, from each kind's.
const char* code_help();

/// The names of both enums of a run's settings, for the code that reads and writes them alike.
inline std::string name_of(Penalty penalty) {
  return penalty_name(penalty);
}
inline std::string name_of(CodeKind code) {
  return code_name(code);
}
inline Penalty parse_name(const std::string& name, Penalty) {
  return parse_penalty(name);
}
inline CodeKind parse_name(const std::string& name, CodeKind) {
  return parse_code(name);
}
/// Every name the enum of `example` takes, in its table's order.
std::vector<std::string> names_of_kind(Penalty example);
std::vector<std::string> names_of_kind(CodeKind example);

/// The units each image keeps under TopK: mask (B, 64) of z's k largest per row, ties broken by
/// the lower unit index, so that the CPU step and autograd select the same units.
torch::Tensor topk_mask(const torch::Tensor& z, int64_t k);

}  // namespace sae
