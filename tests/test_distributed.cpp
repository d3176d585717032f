// Data-parallel training over c10d/Gloo on localhost, against one process on the same global
// batch. Tolerances: the first step's loss and gradients within 1e-5 (relative to each tensor's
// largest value, absolute near 0); a small run's metrics after an epoch within 1e-4 (relative).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "sae/base/errors.hpp"
#include "sae/data/dataset.hpp"
#include "sae/model/cpu_step.hpp"
#include "sae/train/device.hpp"
#include "sae/train/distributed.hpp"
#include "sae/train/train.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <thread>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr double kStepTolerance = 1e-5;
constexpr double kEpochTolerance = 1e-4;

/// A TCP port that was free a moment ago, for a TCPStore.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t length = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  close(fd);
  return ntohs(addr.sin_port);
}

/// Sets environment variables for the scope of a test, the launch's others unset, restoring the
/// previous values after.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const char* name :
         {"WORLD_SIZE", "RANK", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_PROCID",
          "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE", "LOCAL_RANK",
          "LOCAL_WORLD_SIZE", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "OMP_NUM_THREADS"}) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name);
    }
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    // Last saved first: a variable both cleared and set goes back to its value before either.
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      const auto& [name, value] = *it;
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(Distributed, LaunchEnvReadsTorchrunAndSlurmVariables) {
  {
    const ScopedEnv none({});
    EXPECT_FALSE(launch_env().has_value());
  }
  {
    const ScopedEnv alone({{"WORLD_SIZE", "1"}, {"RANK", "0"}});
    EXPECT_FALSE(launch_env().has_value());
  }
  {
    const ScopedEnv torchrun({{"WORLD_SIZE", "2"},
                              {"RANK", "1"},
                              {"MASTER_ADDR", "127.0.0.1"},
                              {"MASTER_PORT", "29511"}});
    const auto launch = launch_env();
    ASSERT_TRUE(launch.has_value());
    EXPECT_EQ(launch->rank, 1);
    EXPECT_EQ(launch->world_size, 2);
    EXPECT_EQ(launch->master_addr, "127.0.0.1");
    EXPECT_EQ(launch->master_port, 29511);
  }
  {
    // An sbatch script's own process (SLURM_NTASKS without an srun step) runs alone.
    const ScopedEnv batch({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}});
    EXPECT_FALSE(launch_env().has_value());
  }
  {
    const ScopedEnv slurm({{"SLURM_STEP_NUM_TASKS", "4"},
                           {"SLURM_PROCID", "3"},
                           {"MASTER_ADDR", "node1"},
                           {"MASTER_PORT", "29500"}});
    const auto launch = launch_env();
    ASSERT_TRUE(launch.has_value());
    EXPECT_EQ(launch->rank, 3);
    EXPECT_EQ(launch->world_size, 4);
  }
}

TEST(Distributed, LaunchEnvRefusesAHalfSetWithItsName) {
  const auto refused = [](const std::vector<std::pair<std::string, std::string>>& vars,
                          const std::string& needle) {
    const ScopedEnv env(vars);
    try {
      launch_env();
      ADD_FAILURE() << "accepted a launch without " << needle;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused({{"WORLD_SIZE", "2"}, {"RANK", "0"}}, "MASTER_ADDR");
  refused({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}}, "RANK");
  refused({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}},
          "RANK=2");
  refused({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "x"}},
          "MASTER_PORT=x");
  // Alone, without WORLD_SIZE: a launch that went wrong, not a single run.
  refused({{"RANK", "-1"}}, "RANK=-1 is set but WORLD_SIZE is not");
  refused({{"RANK", "3"}}, "unset RANK");
  refused({{"MASTER_PORT", "abc"}}, "MASTER_PORT=abc");
  refused({{"MASTER_PORT", "70000"}}, "MASTER_PORT=70000");
  {
    const ScopedEnv port_alone(std::vector<std::pair<std::string, std::string>>{
        {"MASTER_PORT", "29500"}});  // exported by a job script: fine
    EXPECT_FALSE(launch_env().has_value());
  }
}

TEST(Distributed, LaunchEnvReadsTheLocalRankAndSizeAsHints) {
  const std::vector<std::pair<std::string, std::string>> torchrun = {
      {"WORLD_SIZE", "4"}, {"RANK", "3"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29511"}};
  const auto local = [&](const std::vector<std::pair<std::string, std::string>>& more) {
    auto vars = torchrun;
    vars.insert(vars.end(), more.begin(), more.end());
    const ScopedEnv env(vars);
    const auto launch = launch_env();
    EXPECT_TRUE(launch.has_value());
    return launch ? std::pair<int, int>{launch->local_rank, launch->local_world_size}
                  : std::pair<int, int>{-1, -1};
  };
  using Local = std::pair<int, int>;    // (local rank, ranks on this machine)
  EXPECT_EQ(local({}), (Local{0, 4}));  // one machine
  EXPECT_EQ(local({{"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}}), (Local{1, 2}));
  EXPECT_EQ(local({{"SLURM_LOCALID", "3"}, {"SLURM_NTASKS_PER_NODE", "4"}}), (Local{3, 4}));
  // torchrun's own first, local rank 0 included.
  EXPECT_EQ(local({{"LOCAL_RANK", "0"}, {"SLURM_LOCALID", "1"}}), (Local{0, 4}));
  // Hints only: malformed ones fall back, and the launch still trains.
  EXPECT_EQ(local({{"LOCAL_RANK", "x"}, {"LOCAL_WORLD_SIZE", "0"}}), (Local{0, 4}));
  EXPECT_EQ(local({{"LOCAL_RANK", "x"},
                   {"SLURM_LOCALID", "2"},
                   {"LOCAL_WORLD_SIZE", "-1"},
                   {"SLURM_NTASKS_PER_NODE", "2"}}),
            (Local{2, 2}));
}

TEST(Distributed, EachRankTakesItsShareOfTheCoresAndAGpuOfItsOwn) {
  using Vars = std::vector<std::pair<std::string, std::string>>;
  LaunchEnv launch;
  launch.rank = 3;
  launch.world_size = 4;
  launch.local_rank = 1;
  launch.local_world_size = 2;
  {
    const ScopedEnv none({});
    EXPECT_EQ(rank_threads(launch, 5), 5);  // --threads wins
    EXPECT_EQ(rank_threads(launch, 0), cores_per_process(2));
  }
  {
    const ScopedEnv omp(Vars{{"OMP_NUM_THREADS", "3"}});  // as torchrun sets it
    EXPECT_EQ(rank_threads(launch, 0), 3);
    EXPECT_EQ(rank_threads(launch, 5), 5);
  }
  {
    const ScopedEnv nested(Vars{{"OMP_NUM_THREADS", "4,2"}});  // OpenMP's nested form: not a count
    EXPECT_EQ(rank_threads(launch, 0), cores_per_process(2));
  }
  EXPECT_EQ(rank_device(launch, torch::kCPU), torch::Device(torch::kCPU));
  EXPECT_EQ(rank_device(launch, torch::Device(torch::kCUDA)), torch::Device(torch::kCUDA, 1));
  EXPECT_EQ(rank_device(launch, torch::Device(torch::kCUDA, 0)), torch::Device(torch::kCUDA, 0));
}

TEST(Distributed, AGroupNamesTheBackendItRunsOn) {
  EXPECT_EQ(ProcessGroup().backend(), "");
  const ProcessGroup one = ProcessGroup::join({0, 1, "127.0.0.1", free_port(), false}, torch::kCPU,
                                              std::chrono::seconds(10));
  EXPECT_EQ(one.backend(), "Gloo");
}

TEST(Distributed, TheWholeJoinEndsWithinTheTimeout) {
  // A launch that promises 5000 ranks where one comes: Gloo alone waited for each in turn
  // (~17 minutes extrapolated at 100,000); the join must give up after --dist-timeout.
  const int port = free_port();
  const auto start = std::chrono::steady_clock::now();
  try {
    ProcessGroup::join({0, 5000, "127.0.0.1", port, false}, torch::kCPU, std::chrono::seconds(2));
    ADD_FAILURE() << "joined a group of 5000 alone";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("only 1 of 5000 ranks joined within --dist-timeout 2 s"),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Distributed, AFailedJoinPrintsOneLine) {
  // LibTorch's own logging (glog's "Logging before InitGoogleLogging", socket warnings) once
  // came first: 8 lines in all before sae's one.
  const ScopedEnv env({{"WORLD_SIZE", "2"},
                       {"RANK", "1"},
                       {"MASTER_ADDR", "127.0.0.1"},
                       {"MASTER_PORT", std::to_string(free_port())}});
  test::expect_clean_failure(
      test::run_sae({"train", "--dist-timeout", "1", "--data-dir", "nowhere", "--quiet"}),
      "could not join the process group");
}

TEST(Distributed, RankSlicesCoverTheBatchOnce) {
  EXPECT_EQ(rank_slice(100, 0, 2), (std::pair<int64_t, int64_t>{0, 50}));
  EXPECT_EQ(rank_slice(100, 1, 2), (std::pair<int64_t, int64_t>{50, 100}));
  int64_t next = 0;
  for (int r = 0; r < 3; ++r) {
    const auto [begin, end] = rank_slice(37, r, 3);
    EXPECT_EQ(begin, next);
    EXPECT_GE(end - begin, 12);
    next = end;
  }
  EXPECT_EQ(next, 37);
  EXPECT_EQ(rank_slice(1, 0, 2).first, rank_slice(1, 0, 2).second);  // an empty slice
}

/// A batch whose first half is dark and second half bright, so that the halves' codes have
/// clearly different means: a KL taken per rank would not be the batch's.
torch::Tensor two_halves(int64_t batch) {
  torch::manual_seed(21);
  auto images = torch::rand({batch, 1, 28, 28});
  images.slice(0, 0, batch / 2).mul_(0.15);
  return images;
}

/// The same initial model every time, its code made to follow the images' brightness (at
/// initialisation every unit sits near 0.5 whatever the image).
SparseAutoencoder brightness_model() {
  torch::manual_seed(3);
  SparseAutoencoder model;
  torch::NoGradGuard no_grad;
  model->enc3->weight.mul_(40.0);
  return model;
}

/// Runs `step(rank, group)` for ranks 0 and 1 of a Gloo group on localhost, each on its own thread
/// with 1 LibTorch thread; returns each rank's error message ("" when it succeeded).
std::vector<std::string> on_two_ranks(const std::function<void(int, const ProcessGroup&)>& step) {
  const int previous_threads = at::get_num_threads();
  const int port = free_port();
  std::vector<std::string> errors(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      try {
        at::set_num_threads(1);
        step(r, ProcessGroup::join({r, 2, "127.0.0.1", port, false}, torch::kCPU,
                                   std::chrono::seconds(30)));
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  at::set_num_threads(previous_threads);
  return errors;
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  const double scale = std::max(1e-2, want.abs().max().item<double>());
  const double diff = (got - want).abs().max().item<double>();
  EXPECT_LE(diff, kStepTolerance * scale) << what << ": max difference " << diff;
}

class TwoRanks : public ::testing::TestWithParam<Penalty> {};

TEST_P(TwoRanks, TakeTheSingleProcessStepOnTheGlobalBatch) {
  const int previous_threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto images = two_halves(100);
  const SparseLoss loss_fn(/*beta=*/0.5, /*rho=*/0.05, GetParam());

  SparseAutoencoder alone = brightness_model();
  const StepLoss expected = CpuStep(alone).forward_backward(images, loss_fn);

  // The halves alone have other rho_hat, hence another KL, by far more than the tolerance: a KL
  // taken per rank fails this test.
  SparseAutoencoder half_model = brightness_model();
  const StepLoss first_half = CpuStep(half_model).forward_backward(images.slice(0, 0, 50), loss_fn);
  ASSERT_GT(std::abs(first_half.kl - expected.kl), 100 * kStepTolerance * expected.kl);
  ASSERT_GT(std::abs(first_half.mse - expected.mse), 100 * kStepTolerance * expected.mse);

  std::vector<SparseAutoencoder> models = {brightness_model(), brightness_model()};
  std::vector<StepLoss> got(2);
  const auto errors = on_two_ranks([&](int r, const ProcessGroup& group) {
    const auto [begin, end] = rank_slice(100, r, 2);
    got[r] = CpuStep(models[r]).forward_backward(
        images.slice(0, begin, end), loss_fn, [&](torch::Tensor& t) { group.all_reduce_sum(t); });
  });
  at::set_num_threads(previous_threads);
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(errors[r], "") << "rank " << r;
    EXPECT_NEAR(got[r].loss, expected.loss, kStepTolerance * expected.loss) << "rank " << r;
    EXPECT_NEAR(got[r].kl, expected.kl, kStepTolerance * expected.kl) << "rank " << r;
    EXPECT_NEAR(got[r].mse, expected.mse, kStepTolerance * expected.mse) << "rank " << r;
    const auto theirs = alone->named_parameters();
    for (const auto& p : models[r]->named_parameters()) {
      expect_close(p.value().grad(), theirs[p.key()].grad(),
                   "rank " + std::to_string(r) + " " + p.key() + " gradient");
    }
  }
}

// The gradients' scale must be right for each penalty: MSE + beta * KL, + beta * L1, or alone.
INSTANTIATE_TEST_SUITE_P(Penalties, TwoRanks,
                         ::testing::Values(Penalty::kKl, Penalty::kL1, Penalty::kNone));

// The autograd path (the one CUDA runs, with NCCL) takes the same global step: checked here over
// Gloo on the CPU, as no GPU is at hand.
TEST(Distributed, TheAutogradPathTakesTheSameGlobalStep) {
  const int previous_threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto images = two_halves(60);
  const SparseLoss loss_fn(/*beta=*/0.5, /*rho=*/0.05, Penalty::kKl);
  SparseAutoencoder alone = brightness_model();
  auto alone_opt = make_optimizer(alone, 1e-3, 0.0);
  const StepLoss expected = train_step(alone, alone_opt, images, loss_fn);  // autograd

  std::vector<SparseAutoencoder> models = {brightness_model(), brightness_model()};
  std::vector<StepLoss> got(2);
  const auto errors = on_two_ranks([&](int r, const ProcessGroup& group) {
    auto optimizer = make_optimizer(models[r], 1e-3, 0.0);
    const auto [begin, end] = rank_slice(60, r, 2);
    got[r] = train_step(models[r], optimizer, images.slice(0, begin, end), loss_fn,
                        /*cpu_step=*/nullptr, group);
  });
  at::set_num_threads(previous_threads);
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(errors[r], "") << "rank " << r;
    EXPECT_NEAR(got[r].loss, expected.loss, kStepTolerance * expected.loss) << "rank " << r;
    EXPECT_NEAR(got[r].kl, expected.kl, kStepTolerance * expected.kl) << "rank " << r;
    const auto theirs = alone->named_parameters();
    for (const auto& p : models[r]->named_parameters()) {  // .grad() is kept after the step
      expect_close(p.value().grad(), theirs[p.key()].grad(),
                   "rank " + std::to_string(r) + " " + p.key() + " gradient");
    }
  }
}

/// metrics.csv as rows of named numbers.
std::vector<std::map<std::string, double>> read_metrics(const std::string& path) {
  std::istringstream in(test::read_text(path));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  for (std::istringstream header(line); std::getline(header, line, ',');) names.push_back(line);
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    std::map<std::string, double> row;
    std::istringstream cells(line);
    std::string cell;
    for (size_t i = 0; std::getline(cells, cell, ',') && i < names.size(); ++i) {
      row[names[i]] = std::stod(cell);
    }
    rows.push_back(row);
  }
  return rows;
}

/// Waits for `pid` at most `seconds`; its exit code, or -1 if it died of a signal or still ran.
int wait_for(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

/// torchrun's variables for rank `rank` of 2 on localhost.
std::vector<std::pair<std::string, std::string>> rank_env(int rank, int port) {
  return {{"WORLD_SIZE", "2"},
          {"RANK", std::to_string(rank)},
          {"LOCAL_WORLD_SIZE", "2"},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)}};
}

TEST(Distributed, TwoProcessesTrainAnEpochLikeOne) {
  const std::string data = test::shared_data(/*train_count=*/600, /*test_count=*/200);
  test::TempDir dir;
  const std::vector<std::string> args = {"train",     "--epochs", "1",       "--data-dir", data,
                                         "--threads", "1",        "--quiet", "--seed",     "5"};
  auto single_args = args;
  single_args.insert(single_args.end(), {"--out", dir / "single"});
  ASSERT_EQ(test::run_sae(single_args).exit_code, 0);

  auto rank_args = args;
  rank_args.insert(rank_args.end(), {"--out", dir / "two"});
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    pids.push_back(
        test::spawn_sae(rank_args, dir / ("rank" + std::to_string(r) + ".err"), rank_env(r, port)));
  }
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(wait_for(pids[r], 120), 0)
        << "rank " << r << ": " << test::read_text(dir / ("rank" + std::to_string(r) + ".err"));
  }
  const auto single = read_metrics(dir / "single/metrics.csv");
  const auto two = read_metrics(dir / "two/metrics.csv");
  ASSERT_EQ(single.size(), 1u);
  ASSERT_EQ(two.size(), 1u);
  for (const char* column : {"train_loss", "train_mse", "train_kl", "test_loss", "test_mse",
                             "test_kl", "test_mean_rho_hat"}) {
    const double want = single[0].at(column);
    EXPECT_NEAR(two[0].at(column), want, kEpochTolerance * std::abs(want)) << column;
  }
  EXPECT_TRUE(fs::exists(dir / "two/summary.json"));  // rank 0 wrote the report
}

TEST(Distributed, AKilledRankEndsTheOtherWithAClearError) {
  const std::string data = test::shared_data(/*train_count=*/2000, /*test_count=*/100);
  test::TempDir dir;
  const int port = free_port();
  const std::vector<std::string> args = {"train",     "--epochs",       "1000", "--data-dir",
                                         data,        "--threads",      "1",    "--out",
                                         dir / "run", "--dist-timeout", "10"};
  const pid_t rank0 = test::spawn_sae(args, dir / "rank0.err", rank_env(0, port));
  const pid_t rank1 = test::spawn_sae(args, dir / "rank1.err", rank_env(1, port));
  // Once rank 0 has committed its first epoch, both are training.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir / "run/checkpoint.json") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(dir / "run/checkpoint.json")) << test::read_text(dir / "rank0.err");
  kill(rank1, SIGKILL);
  waitpid(rank1, nullptr, 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_for(rank0, 30), 1) << test::read_text(dir / "rank0.err");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  const std::string err = test::read_text(dir / "rank0.err");
  EXPECT_NE(err.find("rank 0 of 2"), std::string::npos) << err;
  EXPECT_EQ(err.find("terminate called"), std::string::npos) << err;
}

TEST(Distributed, SigintToOneRankStopsBothWithOneCheckpoint) {
  const std::string data = test::shared_data(/*train_count=*/2000, /*test_count=*/100);
  test::TempDir dir;
  const int port = free_port();
  const std::vector<std::string> args = {"train",     "--epochs", "1000",  "--data-dir", data,
                                         "--threads", "1",        "--out", dir / "run"};
  const pid_t rank0 = test::spawn_sae(args, dir / "rank0.err", rank_env(0, port));
  const pid_t rank1 = test::spawn_sae(args, dir / "rank1.err", rank_env(1, port));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir / "run/checkpoint.json") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(dir / "run/checkpoint.json")) << test::read_text(dir / "rank0.err");
  kill(rank1, SIGINT);  // the rank that does not write
  EXPECT_EQ(wait_for(rank1, 30), 130) << test::read_text(dir / "rank1.err");
  EXPECT_EQ(wait_for(rank0, 30), 130) << test::read_text(dir / "rank0.err");
  EXPECT_NE(test::read_text(dir / "rank0.err").find("checkpoint saved"), std::string::npos);
  // The committed checkpoint resumes, in one process, with the same global batch.
  const auto resumed = test::run_sae(
      {"train", "--resume", dir / "run", "--epochs", "2", "--threads", "1", "--quiet"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
}

/// The variables torchrun 2.x gives rank `rank` of 2 whose agent hosts the store at `port`, in
/// restart `attempt`.
std::vector<std::pair<std::string, std::string>> torchrun2_env(int rank, int port, int attempt) {
  const std::string r = std::to_string(rank);
  return {{"WORLD_SIZE", "2"},
          {"RANK", r},
          {"LOCAL_RANK", "0"},
          {"LOCAL_WORLD_SIZE", "1"},
          {"GROUP_RANK", r},
          {"GROUP_WORLD_SIZE", "2"},
          {"ROLE_RANK", r},
          {"ROLE_NAME", "default"},
          {"ROLE_WORLD_SIZE", "2"},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)},
          {"TORCHELASTIC_RESTART_COUNT", std::to_string(attempt)},
          {"TORCHELASTIC_MAX_RESTARTS", "3"},
          {"TORCHELASTIC_RUN_ID", "agent-store-test"},
          {"TORCHELASTIC_USE_AGENT_STORE", "True"},
          {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"},
          {"OMP_NUM_THREADS", "1"},
          {"GLOO_SOCKET_IFNAME", "lo"}};
}

TEST(Distributed, UnderTorchrun2sAgentStoreEachAttemptKeepsToItsOwnPrefix) {
  const std::string data = test::shared_data(/*train_count=*/300, /*test_count=*/100);
  test::TempDir dir;
  // The agent's store, which outlives the workers of each attempt.
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(free_port());
  options.isServer = true;
  options.waitWorkers = false;
  c10d::TCPStore agent("127.0.0.1", options);
  // What a worker of an earlier attempt left unprefixed must not count in this one.
  agent.set("sae/joined", std::vector<uint8_t>{'7'});
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::string out = dir / ("attempt" + std::to_string(attempt));
    std::vector<pid_t> pids;
    for (int r = 0; r < 2; ++r) {
      pids.push_back(test::spawn_sae(
          {"train", "--epochs", "1", "--data-dir", data, "--out", out, "--dist-timeout", "20"},
          out + "-rank" + std::to_string(r) + ".err", torchrun2_env(r, options.port, attempt)));
    }
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(wait_for(pids[r], 120), 0)
          << test::read_text(out + "-rank" + std::to_string(r) + ".err");
    }
    const std::string prefix = "/worker/attempt_" + std::to_string(attempt) + "/";
    EXPECT_EQ(agent.add(prefix + "sae/joined", 0), 2) << prefix;
    EXPECT_NE(test::read_text(out + "-rank0.err").find("Gloo on lo (GLOO_SOCKET_IFNAME)"),
              std::string::npos)
        << test::read_text(out + "-rank0.err");
  }
  EXPECT_EQ(agent.add("sae/joined", 0), 7);
}

TEST(Distributed, AGlooInterfaceThatDoesNotExistIsNamedInTheError) {
  const std::string data = test::shared_data(/*train_count=*/300, /*test_count=*/100);
  test::TempDir dir;
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    auto env = rank_env(r, port);
    env.emplace_back("GLOO_SOCKET_IFNAME", "nosuch0");
    pids.push_back(test::spawn_sae({"train", "--epochs", "1", "--data-dir", data, "--out",
                                    dir / "run", "--dist-timeout", "20"},
                                   dir / ("rank" + std::to_string(r) + ".err"), env));
  }
  for (int r = 0; r < 2; ++r) {
    const std::string err_path = dir / ("rank" + std::to_string(r) + ".err");
    EXPECT_EQ(wait_for(pids[r], 60), 2) << test::read_text(err_path);
    const std::string err = test::read_text(err_path);
    EXPECT_NE(err.find("GLOO_SOCKET_IFNAME=nosuch0: cannot use interface 'nosuch0'"),
              std::string::npos)
        << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

TEST(Distributed, ARestartedTorchrunWorkerContinuesItsLaunchsFolderOnly) {
  const std::string data = test::shared_data(/*train_count=*/300, /*test_count=*/100);
  test::TempDir dir;
  // Every attempt of a launch has the same command line; --force must not wipe it on a restart.
  const std::vector<std::string> args = {"train",     "--epochs", "1",     "--data-dir", data,
                                         "--threads", "1",        "--out", dir / "run",  "--force"};
  const auto attempt = [](const char* restart, const char* run_id) {
    return ScopedEnv({{"TORCHELASTIC_RESTART_COUNT", restart},
                      {"TORCHELASTIC_MAX_RESTARTS", "1"},
                      {"TORCHELASTIC_RUN_ID", run_id}});
  };
  {
    const ScopedEnv first = attempt("0", "mine");
    ASSERT_EQ(test::run_sae({"train", "--epochs", "1", "--data-dir", data, "--threads", "1",
                             "--out", dir / "run", "--quiet"})
                  .exit_code,
              0);
  }
  {
    // Another launch's restart: the folder is not its, so it is refused as a new run would be.
    const ScopedEnv other = attempt("1", "theirs");
    auto refused = args;
    refused.pop_back();  // no --force
    test::expect_clean_failure(test::run_sae(refused), "already holds files");
  }
  // As if the first attempt had died in its end-of-run report: trained, not finished.
  fs::remove(dir / "run/summary.json");
  {
    const ScopedEnv mine = attempt("1", "mine");
    const auto continued = test::run_sae(args);
    EXPECT_EQ(continued.exit_code, 0) << continued.err;
    EXPECT_NE(continued.err.find("torchrun restart 1: continuing"), std::string::npos)
        << continued.err;
    EXPECT_TRUE(fs::exists(dir / "run/summary.json"));
    EXPECT_EQ(read_metrics(dir / "run/metrics.csv").size(), 1u);  // not trained over again
    // A restart after the run finished (a worker that died at its exit) has nothing to do.
    const auto again = test::run_sae(args);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.err.find("had finished; nothing to do"), std::string::npos) << again.err;
  }
  {
    // torchrun's default run id is every launch's: a restart could not tell its folder.
    const ScopedEnv none = attempt("0", "none");
    test::expect_clean_failure(test::run_sae(args), "give the launch its own --rdzv_id");
  }
  {
    const ScopedEnv restarts = attempt("0", "mine");
    test::expect_clean_failure(test::run_sae({"train", "--epochs", "1", "--data-dir", data}),
                               "under torchrun --max-restarts, name the run folder with --out");
  }
}

}  // namespace
}  // namespace sae
