#include "sae/train/device.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include "sae/base/errors.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
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

namespace {

constexpr auto kLoadSample = std::chrono::milliseconds(100);
constexpr double kIdleEnough = 0.5;  // a core at least this idle can take a thread

/// The CPU numbers this process may run on.
std::vector<int> affinity() {
  std::vector<int> cores;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cores.push_back(cpu);
    }
  }
  return cores;
}

/// Per CPU number, its (idle, total) jiffies from /proc/stat's "cpuN ..." lines.
std::map<int, std::pair<double, double>> cpu_times(const std::string& stat) {
  std::map<int, std::pair<double, double>> times;
  std::istringstream lines(stat);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || !std::isdigit(line[3])) continue;
    std::istringstream fields(line.substr(3));
    int cpu = 0;
    fields >> cpu;
    std::vector<double> v;
    for (double x; fields >> x;) v.push_back(x);
    if (v.size() < 5) continue;
    const double total = std::accumulate(v.begin(), v.begin() + std::min<size_t>(v.size(), 8), 0.0);
    times[cpu] = {v[3] + v[4], total};  // idle + iowait
  }
  return times;
}

std::string read_proc_stat() {
  std::ifstream in("/proc/stat");
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

int available_cores() {
  const auto cores = affinity();
  if (!cores.empty()) return static_cast<int>(cores.size());
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int cores_per_process(int processes) {
  TORCH_CHECK(processes >= 1, "cores_per_process: processes must be >= 1, got ", processes);
  return std::max(1, available_cores() / processes);
}

int idle_cores_between(const std::string& stat_before, const std::string& stat_after,
                       const std::vector<int>& cores) {
  const auto before = cpu_times(stat_before);
  const auto after = cpu_times(stat_after);
  int idle = 0;
  for (const int cpu : cores) {
    if (!before.count(cpu) || !after.count(cpu)) continue;
    const double total = after.at(cpu).second - before.at(cpu).second;
    const double idle_time = after.at(cpu).first - before.at(cpu).first;
    if (total > 0 && idle_time / total >= kIdleEnough) ++idle;
  }
  return idle;
}

int default_threads() {
  const std::vector<int> cores = affinity();
  const std::string before = read_proc_stat();
  if (cores.empty() || before.empty()) return available_cores();
  std::this_thread::sleep_for(kLoadSample);
  // OpenMP threads spin while they wait for each other: one on a core that another process keeps
  // busy slows every step of the team 50-fold. So a busy core gets no thread.
  return std::max(1, idle_cores_between(before, read_proc_stat(), cores));
}

void set_threads(int threads) {
  TORCH_CHECK(threads >= 0, "set_threads: threads must be >= 0, got ", threads);
  const int cores = available_cores();
  // Some LibTorch builds (Debian's among them) start with a single thread: always set it.
  if (threads == 0) {
    threads = default_threads();
    spdlog::debug("--threads 0: {} of {} core(s) idle enough to take a thread", threads, cores);
  }
  if (threads > cores) {
    spdlog::warn(
        "--threads {} is more than the {} core(s) this process may use: it will run "
        "slower, not faster",
        threads, cores);
  }
  torch::set_num_threads(threads);
}

}  // namespace sae
