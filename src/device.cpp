#include "sae/device.hpp"

#include <fmt/format.h>

#include "sae/errors.hpp"

#include <optional>
#include <stdexcept>
#include <thread>

namespace sae {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) != 0) {
    throw UsageError(
        fmt::format("unknown device '{}': use auto, cpu, cuda or cuda:N", spec));
  }
  std::optional<torch::Device> device;
  try {
    device = torch::Device(spec);
  } catch (const c10::Error&) {
    throw UsageError(
        fmt::format("unknown device '{}': use auto, cpu, cuda or cuda:N", spec));
  }
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus == 0) {
    throw UsageError(fmt::format(
        "--device {}: this LibTorch sees no CUDA GPU (CPU-only build, or no driver); use --device "
        "cpu",
        spec));
  }
  if (device->has_index() && device->index() >= gpus) {
    throw UsageError(
        fmt::format("--device {}: only {} CUDA device(s), numbered 0..{}", spec, gpus, gpus - 1));
  }
  return *device;
}

void set_threads(int threads) {
  TORCH_CHECK(threads >= 0, "set_threads: threads must be >= 0, got ", threads);
  // Some LibTorch builds (Debian's among them) start with a single thread; 0 means every core.
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
}

torch::Device apply(const ComputeOptions& options) {
  const torch::Device device = resolve_device(options.device);
  set_threads(options.threads);
  return device;
}

}  // namespace sae
