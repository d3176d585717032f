#include "sae/device.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include "sae/errors.hpp"

#include <optional>
#include <stdexcept>
#include <thread>

namespace sae {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) != 0) {
    throw UsageError(fmt::format("unknown device '{}': use auto, cpu, cuda or cuda:N", spec));
  }
  std::optional<torch::Device> device;
  try {
    device = torch::Device(spec);
  } catch (const c10::Error&) {
    throw UsageError(fmt::format("unknown device '{}': use auto, cpu, cuda or cuda:N", spec));
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

int available_cores() {
  cpu_set_t cores;
  if (sched_getaffinity(0, sizeof cores, &cores) == 0) return CPU_COUNT(&cores);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void set_threads(int threads) {
  TORCH_CHECK(threads >= 0, "set_threads: threads must be >= 0, got ", threads);
  const int cores = available_cores();
  // Some LibTorch builds (Debian's among them) start with a single thread; 0 means every core.
  if (threads == 0) threads = cores;
  if (threads > cores) {
    spdlog::warn(
        "--threads {} is more than the {} core(s) this process may use: it will run "
        "slower, not faster",
        threads, cores);
  }
  torch::set_num_threads(threads);
}

torch::Device apply(const ComputeOptions& options) {
  const torch::Device device = resolve_device(options.device);
  set_threads(options.threads);
  return device;
}

}  // namespace sae
