#pragma once
// Data-parallel training over PyTorch's own distributed runtime (c10d): processes launched by
// torchrun or Slurm's srun join one process group (Gloo on the CPU, NCCL on CUDA), each trains on
// its slice of every global batch, and the collectives below make the result the single process's.

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace sae {

/// Where a process stands in a launch, read from torchrun's variables (RANK, WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT, LOCAL_RANK, LOCAL_WORLD_SIZE) or an srun step's (SLURM_PROCID,
/// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE, with MASTER_ADDR and MASTER_PORT
/// exported by the job script).
struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  std::string master_addr;
  int master_port = 0;
  bool agent_hosts_store = false;  // torchrun's agent hosts it (2.x; 1.13's static rendezvous)
  int local_rank = 0;              // among the ranks on this machine
  int local_world_size = 1;        // ranks on this machine
};

/// The launch this process is part of; nullopt when it was started alone (world size 1).
/// Throws UsageError on a partial or inconsistent set of variables, naming it. The local rank
/// and size are read leniently, as hints: unset or malformed, they fall back to SLURM_LOCALID
/// (then 0) and SLURM_NTASKS_PER_NODE (then the world size).
std::optional<LaunchEnv> launch_env();

/// One attempt of a torchrun launch: its workers are restarted as a group (--max-restarts), and
/// each attempt's workers see the same run id with a higher restart count.
struct ElasticAttempt {
  std::string run_id;     // TORCHELASTIC_RUN_ID: the same for every attempt of one launch
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: 0 for the first attempt
  int max_restarts = 0;   // TORCHELASTIC_MAX_RESTARTS
};

/// The torchrun attempt this process is a worker of (also with one worker); nullopt outside
/// torchrun. Malformed counts are refused with a UsageError naming the variable.
std::optional<ElasticAttempt> elastic_attempt();

/// The CPU threads of one rank of `launch`: `threads` when given (> 0); else OMP_NUM_THREADS
/// when it is a count (torchrun sets it to 1); else this machine's cores shared by its ranks.
int rank_threads(const LaunchEnv& launch, int threads);

/// The device of one rank of `launch`: `device` itself unless it is CUDA without an index
/// ("cuda", "auto"); then cuda:<local rank>, one GPU per rank on each machine.
torch::Device rank_device(const LaunchEnv& launch, const torch::Device& device);

/// A c10d process group, or none: with one process every collective is a no-op.
class ProcessGroup {
 public:
  /// The lone process: rank 0 of 1.
  ProcessGroup() = default;
  /// Joins the launch's group over a TCPStore at MASTER_ADDR:MASTER_PORT: Gloo on the CPU, NCCL
  /// on CUDA (where LibTorch has it; else a UsageError). Every collective fails after `timeout`
  /// rather than wait for a rank that died. Gloo runs on GLOO_SOCKET_IFNAME's interfaces when
  /// set (as in PyTorch), else on the interface of the address that reaches MASTER_ADDR or, where
  /// that is loopback (this host is MASTER_ADDR), the other hosts' ranks.
  static ProcessGroup join(const LaunchEnv& env, const torch::Device& device,
                           std::chrono::milliseconds timeout);

  /// This process's rank, 0 to world_size() - 1.
  int rank() const { return rank_; }
  /// The number of processes; 1 for a lone process.
  int world_size() const { return world_size_; }
  /// Rank 0 alone writes the run folder.
  bool is_writer() const { return rank_ == 0; }
  /// The c10d backend its collectives run on: "Gloo" (CPU) or "NCCL" (CUDA); "" alone.
  std::string backend() const;
  /// Where Gloo's traffic goes, e.g. "eth0 (10.0.0.1)", and why; "" for NCCL or alone.
  std::string network() const;

  /// Throws unless every rank passes the same `value`; `what` says what differs, for the error.
  void check_same_on_every_rank(int64_t value, const std::string& what) const;

  /// t <- the sum of t over all ranks, in place (on the group's device).
  void all_reduce_sum(torch::Tensor& t) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  int rank_ = 0;
  int world_size_ = 1;
};

/// Images [begin, end) of a global batch of `batch` that rank `rank` of `world_size` trains on:
/// an even split, the later ranks taking one more when it does not divide.
std::pair<int64_t, int64_t> rank_slice(int64_t batch, int rank, int world_size);

}  // namespace sae
