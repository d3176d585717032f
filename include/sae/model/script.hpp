#pragma once
// The network as TorchScript: a torch::jit::Module with the nn::Module's names and methods that
// plain PyTorch runs from model.pt (torch.jit.load(path)(x)) with no class of its own.

#include <torch/script.h>
#include <torch/torch.h>

#include "sae/model/model.hpp"

namespace sae {

/// A TorchScript module holding `model`'s tensors (CPU copies, under the same names) whose
/// forward (images -> (reconstruction, code)), encode, decode, pre_activation and activate
/// compute what `model` computes in eval mode, whatever the module's training flag.
torch::jit::Module script_module(const SparseAutoencoderImpl& model);

}  // namespace sae
