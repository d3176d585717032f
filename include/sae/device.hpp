#pragma once

#include <torch/torch.h>

#include <string>

namespace sae {

/// Resolves "auto", "cpu", "cuda" or "cuda:N" to a device. auto picks CUDA when LibTorch has it;
/// asking for CUDA where there is none throws std::invalid_argument, never falls back silently.
torch::Device resolve_device(const std::string& spec);
/// Sets LibTorch's CPU thread count; 0 means one per core; negative throws std::invalid_argument.
void set_threads(int threads);

}  // namespace sae
