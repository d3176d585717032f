// The CUDA route: skipped, with the reason, where LibTorch sees no GPU.

#include <gtest/gtest.h>

#include "sae/base/errors.hpp"
#include "sae/model/inference.hpp"
#include "sae/train/device.hpp"
#include "sae/train/distributed.hpp"
#include "sae/train/eval.hpp"
#include "sae/train/train.hpp"
#include "test_util.hpp"

namespace sae {
namespace {

#define SKIP_WITHOUT_CUDA()                                                              \
  if (!torch::cuda::is_available()) {                                                    \
    GTEST_SKIP() << "LibTorch sees no CUDA GPU (CPU-only build or no driver); the CUDA " \
                    "route is checked by scripts/gpu-check.sh on a machine with one";    \
  }

TEST(Cuda, AutoPicksTheGpuAndCudaIndicesAreChecked) {
  SKIP_WITHOUT_CUDA();
  EXPECT_TRUE(resolve_device("auto").is_cuda());
  EXPECT_TRUE(resolve_device("cuda:0").is_cuda());
  const auto gpus = torch::cuda::device_count();
  EXPECT_THROW(resolve_device("cuda:" + std::to_string(gpus)), UsageError);
}

TEST(Cuda, InferenceOnTheGpuMatchesTheCpuStep) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  SparseAutoencoder cpu_model;
  SparseAutoencoder gpu_model;
  gpu_model->to(torch::kCUDA);
  torch::NoGradGuard no_grad;
  for (const auto& p : cpu_model->named_parameters()) {
    gpu_model->named_parameters()[p.key()].copy_(p.value());
  }
  const auto images = torch::rand({37, 1, 28, 28});
  Inference on_cpu(cpu_model, torch::kCPU);   // CpuStep
  Inference on_gpu(gpu_model, torch::kCUDA);  // the torch::nn layers on the GPU
  const auto cpu = on_cpu.forward(images);
  const auto gpu = on_gpu.forward(images.to(torch::kCUDA));
  EXPECT_TRUE(torch::allclose(gpu.reconstruction.cpu(), cpu.reconstruction, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(gpu.code.cpu(), cpu.code, 1e-4, 1e-5));
  const auto eye = torch::eye(kCodeSize);  // the atoms' codes
  EXPECT_TRUE(
      torch::allclose(on_gpu.decode(eye.to(torch::kCUDA)).cpu(), on_cpu.decode(eye), 1e-4, 1e-5));
}

TEST(Cuda, TrainingOnTheGpuEvaluatesLikeTheCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  const Dataset data = test::synthetic_dataset(400, 5);
  SparseAutoencoder model;
  model->to(torch::kCUDA);
  auto optimizer = make_optimizer(model, 1e-3, 0.0);
  RunConfig config;
  config.beta = 0.005;
  config.rho = 0.05;
  config.batch_size = 50;
  config.seed = 1;
  config.device = "cuda";
  TrainCursor cursor;
  for (int epoch = 1; epoch <= 3; ++epoch) {
    ASSERT_TRUE(
        train_epoch(model, optimizer, data, config, torch::kCUDA, cursor, ProgressStyle::kNone));
    EXPECT_EQ(cursor.epoch, epoch - 1);
    cursor = cursor.next_epoch();
  }
  EXPECT_EQ(cursor.steps, 3 * 8);
  const SparseLoss loss(config.beta, config.rho, config.penalty);
  const auto on_gpu = evaluate(model, data, loss, 128, torch::kCUDA);
  model->to(torch::kCPU);
  const auto on_cpu = evaluate(model, data, loss, 128, torch::kCPU);
  // The codes come back on the CPU wherever they were computed.
  EXPECT_EQ(on_gpu.codes.device().type(), torch::kCPU);
  EXPECT_TRUE(torch::allclose(on_gpu.codes, on_cpu.codes, 1e-4, 1e-5));
  EXPECT_NEAR(on_gpu.metrics.mse, on_cpu.metrics.mse, 1e-4);
  EXPECT_NEAR(on_gpu.metrics.kl, on_cpu.metrics.kl, 1e-4 * std::max(1.0, on_cpu.metrics.kl));
}

// Data-parallel runs on CUDA go through NCCL: a one-rank group on the GPU sums to itself.
TEST(Cuda, DataParallelRunsOnCudaUseNccl) {
  SKIP_WITHOUT_CUDA();
  try {
    const ProcessGroup group = ProcessGroup::join(
        {0, 1, "127.0.0.1", 29531, false}, torch::Device(torch::kCUDA), std::chrono::seconds(30));
    auto t = torch::arange(4, torch::TensorOptions(torch::kFloat32).device(torch::kCUDA));
    group.all_reduce_sum(t);
    EXPECT_TRUE(torch::equal(t.cpu(), torch::arange(4, torch::kFloat32)));
  } catch (const UsageError& e) {
    GTEST_SKIP() << e.what();  // this LibTorch has no NCCL
  }
}

}  // namespace
}  // namespace sae
