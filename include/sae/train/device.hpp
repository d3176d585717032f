#pragma once
// Where the tensors live and how many CPU threads work on them: chosen once per command.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace sae {

/// The compute flags every command shares: resolve_device(device), then set_threads(threads).
struct ComputeOptions {
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< CPU threads; 0: one per core
};

/// Resolves "auto", "cpu", "cuda" or "cuda:N" to a device. auto picks CUDA when LibTorch has it;
/// asking for CUDA where there is none throws UsageError, never falls back silently.
torch::Device resolve_device(const std::string& spec);
/// The cores this process may run on (its CPU affinity, as taskset or a container set it).
int available_cores();
/// This process's share of the available cores when `processes` processes share them, at least
/// one: the threads for each of a sweep's --jobs, or each rank of a launch on this machine.
int cores_per_process(int processes);
/// How many of `cores` (CPU numbers) were at least half idle between two snapshots of /proc/stat.
int idle_cores_between(const std::string& stat_before, const std::string& stat_after,
                       const std::vector<int>& cores);
/// What --threads 0 means: one thread per available core that is not busy with other work now
/// (sampled over 0.1 s), at least one.
int default_threads();
/// Sets LibTorch's CPU thread count, for the whole process; 0 means default_threads(); more than
/// the cores warns.
void set_threads(int threads);

}  // namespace sae
