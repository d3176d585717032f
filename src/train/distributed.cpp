#include "sae/train/distributed.hpp"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL  // defined by LibTorch builds with NCCL (pip's CUDA torch), not Debian's
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "sae/base/env.hpp"
#include "sae/base/errors.hpp"
#include "sae/base/network.hpp"
#include "sae/train/device.hpp"

#include <functional>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sae {
namespace {

constexpr int64_t kMaxWorldSize = 1 << 20;
constexpr int64_t kMaxLocalRanks = 1 << 16;  // ranks on one machine
constexpr int64_t kMaxPort = 65535;
constexpr int64_t kMaxThreads = 1 << 16;
constexpr int64_t kMaxRestarts = 1 << 20;

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

std::optional<ElasticAttempt> elastic_attempt() {
  const auto restart_count = env_integer("TORCHELASTIC_RESTART_COUNT", 0, kMaxRestarts);
  if (!restart_count) return std::nullopt;
  ElasticAttempt attempt;
  attempt.restart_count = static_cast<int>(*restart_count);
  attempt.max_restarts =
      static_cast<int>(env_integer("TORCHELASTIC_MAX_RESTARTS", 0, kMaxRestarts).value_or(0));
  attempt.run_id = env_text("TORCHELASTIC_RUN_ID").value_or("");
  return attempt;
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
  std::string network;                                       // Gloo's interface, and why
  torch::Device device{torch::kCPU};                         // where collectives take tensors
  std::function<void(std::vector<at::Tensor>&)> all_reduce;  // the backend's, waiting for it
};

namespace {

/// The store key under which rank `rank` publishes the address it reaches MASTER_ADDR from.
std::string address_key(int rank) {
  return "sae/address/" + std::to_string(rank);
}

using GlooDevices = std::vector<std::shared_ptr<gloo::transport::Device>>;

/// The devices of the interfaces GLOO_SOCKET_IFNAME names (a comma-separated list, as in
/// PyTorch); nullopt when it is unset. A name that is no interface here is a UsageError.
std::optional<GlooDevices> devices_named_by_env() {
  const auto names = env_text("GLOO_SOCKET_IFNAME");
  if (!names) return std::nullopt;
  GlooDevices devices;
  std::stringstream list(*names);
  for (std::string name; std::getline(list, name, ',');) {
    try {
      devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format(
          "GLOO_SOCKET_IFNAME={}: cannot use interface '{}' ({}): name one that `ip -brief "
          "address` lists on this host, or unset it",
          *names, name, first_line(e.what())));
    }
  }
  return devices;
}

/// Gloo's device: the address this host reaches the others from. Gloo's own default is the
/// address the hostname resolves to, which on a Debian host (127.0.1.1 in /etc/hosts) is
/// loopback, and no other host can connect to it.
GlooDevices reachable_devices(c10d::Store& store, const LaunchEnv& launch, const std::string& own,
                              std::string& network) {
  std::string address = own;
  std::string why = "the address that reaches MASTER_ADDR " + launch.master_addr;
  if (address.empty() || is_loopback_address(address)) {
    // This host is MASTER_ADDR (or reaches it through loopback): the address that reaches a
    // rank on another host is the one the others can connect to. None: every rank is here.
    for (int r = 0; r < launch.world_size; ++r) {
      const std::vector<uint8_t> bytes = store.get(address_key(r));
      const std::string theirs(bytes.begin(), bytes.end());
      if (theirs.empty() || is_loopback_address(theirs)) continue;
      if (const auto toward = source_address_toward(theirs)) {
        address = *toward;
        why = fmt::format("the address that reaches rank {} at {}", r, theirs);
        break;
      }
    }
  }
  if (address.empty()) {
    network = "Gloo's default (MASTER_ADDR has no route)";
    return {c10d::ProcessGroupGloo::createDefaultDevice()};
  }
  network = fmt::format("{} ({}), {}", interface_holding(address).value_or("?"), address, why);
  return {c10d::ProcessGroupGloo::createDeviceForHostname(address)};
}

/// Gloo on the CPU: its collectives move CPU tensors over TCP.
std::function<void(std::vector<at::Tensor>&)> gloo_all_reduce(
    const c10::intrusive_ptr<c10d::Store>& store, const LaunchEnv& launch,
    std::chrono::milliseconds timeout, const std::string& own,
    const std::optional<GlooDevices>& named, std::string& network) {
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->timeout = timeout;
  if (named) {
    options->devices = *named;
    network = fmt::format("{} (GLOO_SOCKET_IFNAME)", *env_text("GLOO_SOCKET_IFNAME"));
  } else {
    options->devices = reachable_devices(*store, launch, own, network);
  }
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
  const std::string key = "sae/joined";
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
  // Before the store: a name that is no interface fails every rank alike, not rank 0 first.
  const std::optional<GlooDevices> named = device.is_cuda() ? std::nullopt : devices_named_by_env();
  try {
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
    if (launch.agent_hosts_store) {
      // The agent's store outlives a restart of the workers: each attempt keeps to its own keys,
      // under the prefix PyTorch's own workers use.
      store = c10::make_intrusive<c10d::PrefixStore>(
          "/worker/attempt_" + env_text("TORCHELASTIC_RESTART_COUNT").value_or("0"), store);
    }
    group.impl_->store = store;
    const std::string own = source_address_toward(launch.master_addr).value_or("");
    store->set(address_key(launch.rank), std::vector<uint8_t>(own.begin(), own.end()));
    wait_for_every_rank(*store, launch, timeout);
    group.impl_->backend = device.is_cuda() ? "NCCL" : "Gloo";
    group.impl_->device = device;
    group.impl_->all_reduce = device.is_cuda() ? nccl_all_reduce(store, launch, timeout)
                                               : gloo_all_reduce(store, launch, timeout, own, named,
                                                                 group.impl_->network);
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

std::string ProcessGroup::network() const {
  return impl_ ? impl_->network : "";
}

void ProcessGroup::check_same_on_every_rank(int64_t value, const std::string& what) const {
  if (!impl_) return;
  // Each rank's value in its own slot: the sum holds them all.
  auto values = torch::zeros({world_size_}, torch::kFloat64);
  values[rank_] = static_cast<double>(value);
  values = values.to(impl_->device);
  all_reduce_sum(values);
  values = values.cpu();
  for (int r = 0; r < world_size_; ++r) {
    const auto theirs = static_cast<int64_t>(values[r].item<double>());
    if (theirs != value) {
      throw std::runtime_error(fmt::format("rank {} of {}: {} is {} here but {} on rank {}", rank_,
                                           world_size_, what, value, theirs, r));
    }
  }
}

void ProcessGroup::all_reduce_sum(torch::Tensor& t) const {
  if (!impl_) return;
  std::vector<at::Tensor> tensors{t};
  try {
    impl_->all_reduce(tensors);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("rank {} of {}: a collective failed (another rank stopped or died, or the "
                    "network between them went down): {}",
                    rank_, world_size_, first_line(e.what())));
  }
}

std::pair<int64_t, int64_t> rank_slice(int64_t batch, int rank, int world_size) {
  return {batch * rank / world_size, batch * (rank + 1) / world_size};
}

}  // namespace sae
