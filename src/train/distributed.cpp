#include "sae/train/distributed.hpp"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL  // defined by LibTorch builds with NCCL (pip's CUDA torch), not Debian's
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "sae/base/env.hpp"
#include "sae/base/errors.hpp"
#include "sae/train/device.hpp"

#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <thread>

namespace sae {
namespace {

constexpr int64_t kMaxWorldSize = 1 << 20;
constexpr int64_t kMaxLocalRanks = 1 << 16;  // ranks on one machine
constexpr int64_t kMaxPort = 65535;
constexpr int64_t kMaxThreads = 1 << 16;

/// The first of `names` that holds an integer in [min, max], read leniently (env_integer_if_valid).
std::optional<int64_t> first_valid(std::initializer_list<const char*> names, int64_t min,
                                   int64_t max) {
  for (const char* name : names) {
    if (const auto value = env_integer_if_valid(name, min, max)) return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<LaunchEnv> launch_env() {
  // torchrun's variables first; Slurm's when torchrun's are absent. SLURM_STEP_NUM_TASKS, not
  // SLURM_NTASKS: the latter is also set in an sbatch script that runs sae without srun.
  const bool torchrun = env_text("WORLD_SIZE").has_value();
  const char* rank_name = torchrun ? "RANK" : "SLURM_PROCID";
  const char* size_name = torchrun ? "WORLD_SIZE" : "SLURM_STEP_NUM_TASKS";
  // Malformed or half-set launch variables mean a launch that went wrong, not a single run.
  env_integer("MASTER_PORT", 1, kMaxPort);
  const std::optional<int64_t> world_size = env_integer(size_name, 1, kMaxWorldSize);
  if (!world_size) {
    if (const auto rank = env_text("RANK")) {
      throw UsageError(fmt::format(
          "RANK={} is set but WORLD_SIZE is not: start sae with torchrun, or unset RANK", *rank));
    }
    return std::nullopt;
  }
  LaunchEnv launch;
  launch.world_size = static_cast<int>(*world_size);
  if (launch.world_size == 1) return std::nullopt;
  const std::optional<int64_t> rank = env_integer(rank_name, 0, launch.world_size - 1);
  if (!rank) {
    throw UsageError(fmt::format("{} is set but {} is not: start sae with torchrun or srun",
                                 size_name, rank_name));
  }
  launch.rank = static_cast<int>(*rank);
  const auto addr = env_text("MASTER_ADDR");
  const auto port = env_integer("MASTER_PORT", 1, kMaxPort);
  if (!addr || !port) {
    throw UsageError(fmt::format(
        "a {}-process launch needs MASTER_ADDR and MASTER_PORT (torchrun sets them; under Slurm, "
        "export them in the job script, e.g. MASTER_ADDR=$(scontrol show hostnames "
        "\"$SLURM_JOB_NODELIST\" | head -n 1) MASTER_PORT=29500)",
        launch.world_size));
  }
  launch.master_addr = *addr;
  launch.master_port = static_cast<int>(*port);
  launch.agent_hosts_store = env_text("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  // Hints for threads and GPUs only: a launcher that sets them oddly still trains.
  launch.local_rank = static_cast<int>(
      first_valid({"LOCAL_RANK", "SLURM_LOCALID"}, 0, kMaxLocalRanks - 1).value_or(0));
  launch.local_world_size =
      static_cast<int>(first_valid({"LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"}, 1, kMaxLocalRanks)
                           .value_or(launch.world_size));
  return launch;
}

int rank_threads(const LaunchEnv& launch, int threads) {
  if (threads > 0) return threads;
  // The cores are shared by the ranks on this machine; torchrun says so with OMP_NUM_THREADS.
  return static_cast<int>(env_integer_if_valid("OMP_NUM_THREADS", 1, kMaxThreads)
                              .value_or(cores_per_process(launch.local_world_size)));
}

torch::Device rank_device(const LaunchEnv& launch, const torch::Device& device) {
  if (!device.is_cuda() || device.has_index()) return device;
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank)};
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  std::string backend;                                       // "Gloo" or "NCCL"
  std::function<void(std::vector<at::Tensor>&)> all_reduce;  // the backend's, waiting for it
};

namespace {

/// Gloo on the CPU: its collectives move CPU tensors over TCP.
std::function<void(std::vector<at::Tensor>&)> gloo_all_reduce(
    const c10::intrusive_ptr<c10d::Store>& store, const LaunchEnv& launch,
    std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->timeout = timeout;
  options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  auto gloo =
      c10::make_intrusive<c10d::ProcessGroupGloo>(store, launch.rank, launch.world_size, options);
  return [gloo, timeout](std::vector<at::Tensor>& t) { gloo->allreduce(t)->wait(timeout); };
}

/// NCCL on CUDA, where LibTorch has it.
std::function<void(std::vector<at::Tensor>&)> nccl_all_reduce(
    const c10::intrusive_ptr<c10d::Store>& store, const LaunchEnv& launch,
    std::chrono::milliseconds timeout) {
#ifdef USE_C10D_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto nccl =
      c10::make_intrusive<c10d::ProcessGroupNCCL>(store, launch.rank, launch.world_size, options);
  return [nccl, timeout](std::vector<at::Tensor>& t) { nccl->allreduce(t)->wait(timeout); };
#else
  (void)store, (void)launch, (void)timeout;
  throw UsageError(
      "data-parallel training on CUDA needs a LibTorch built with NCCL (pip's CUDA torch); this "
      "one has none: pass --device cpu to train the ranks on the CPU over Gloo");
#endif
}

/// Waits until every rank has checked in at the store, or throws once `timeout` has passed.
/// Gloo's own rendezvous waits for each peer in turn, each with the whole timeout, so a launch
/// that promises more ranks than come would wait far longer than --dist-timeout; after this
/// check it runs only with every rank there.
void wait_for_every_rank(c10d::Store& store, const LaunchEnv& launch,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // torchrun restarts keep its store: each attempt counts under its own key.
  const std::string key = "sae/joined/" + env_text("TORCHELASTIC_RESTART_COUNT").value_or("0");
  int64_t joined = store.add(key, 1);
  while (joined < launch.world_size) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(fmt::format(
          "only {} of {} ranks joined within --dist-timeout {} s: start every rank, or check "
          "WORLD_SIZE",
          joined, launch.world_size,
          std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    joined = store.add(key, 0);
  }
}

}  // namespace

ProcessGroup ProcessGroup::join(const LaunchEnv& launch, const torch::Device& device,
                                std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(launch.master_port);
  options.isServer = launch.rank == 0 && !launch.agent_hosts_store;
  options.numWorkers = static_cast<std::size_t>(launch.world_size);
  options.waitWorkers = false;
  options.timeout = timeout;
  ProcessGroup group;
  group.impl_ = std::make_shared<Impl>();
  try {
    group.impl_->store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
    wait_for_every_rank(*group.impl_->store, launch, timeout);
    group.impl_->backend = device.is_cuda() ? "NCCL" : "Gloo";
    group.impl_->all_reduce = device.is_cuda()
                                  ? nccl_all_reduce(group.impl_->store, launch, timeout)
                                  : gloo_all_reduce(group.impl_->store, launch, timeout);
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "rank {} of {} could not join the process group at {}:{}: {}", launch.rank,
        launch.world_size, launch.master_addr, launch.master_port, first_line(e.what())));
  }
  group.rank_ = launch.rank;
  group.world_size_ = launch.world_size;
  return group;
}

std::string ProcessGroup::backend() const {
  return impl_ ? impl_->backend : "";
}

void ProcessGroup::all_reduce_sum(torch::Tensor& t) const {
  if (!impl_) return;
  std::vector<at::Tensor> tensors{t};
  try {
    impl_->all_reduce(tensors);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("rank {} of {}: a collective failed (another rank stopped or died?): {}", rank_,
                    world_size_, first_line(e.what())));
  }
}

std::pair<int64_t, int64_t> rank_slice(int64_t batch, int rank, int world_size) {
  return {batch * rank / world_size, batch * (rank + 1) / world_size};
}

}  // namespace sae
