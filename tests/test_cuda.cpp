// The CUDA route: skipped, with the reason, where LibTorch sees no GPU.

#include <gtest/gtest.h>

#include "sae/device.hpp"
#include "sae/eval.hpp"
#include "sae/train.hpp"
#include "test_util.hpp"

namespace sae {
namespace {

#define SKIP_WITHOUT_CUDA()                                                              \
  if (!torch::cuda::is_available()) {                                                    \
    GTEST_SKIP() << "LibTorch sees no CUDA GPU (CPU-only build or no driver); the CUDA " \
                    "route is checked by scripts/gpu-check.sh on a machine with one";    \
  }

Dataset synthetic_dataset(uint32_t count) {
  const auto pixels = test::synthetic_pixels(count, 5);
  return {torch::from_blob(const_cast<uint8_t*>(pixels.data()),
                           {static_cast<int64_t>(count), 28, 28}, torch::kUInt8)
              .clone(),
          torch::arange(static_cast<int64_t>(count)) % 10};
}

TEST(Cuda, AutoPicksTheGpuAndCudaIndicesAreChecked) {
  SKIP_WITHOUT_CUDA();
  EXPECT_TRUE(resolve_device("auto").is_cuda());
  EXPECT_TRUE(resolve_device("cuda:0").is_cuda());
  const auto gpus = torch::cuda::device_count();
  EXPECT_THROW(resolve_device("cuda:" + std::to_string(gpus)), std::invalid_argument);
}

TEST(Cuda, ForwardMatchesTheCpuFastPath) {
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
  const auto cpu = cpu_model->forward(images);                   // the CPU fast path
  const auto gpu = gpu_model->forward(images.to(torch::kCUDA));  // the plain layers on the GPU
  EXPECT_TRUE(torch::allclose(gpu.reconstruction.cpu(), cpu.reconstruction, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(gpu.code.cpu(), cpu.code, 1e-4, 1e-5));
}

TEST(Cuda, TrainingOnTheGpuEvaluatesLikeTheCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  const Dataset data = synthetic_dataset(400);
  SparseAutoencoder model;
  model->to(torch::kCUDA);
  auto optimizer = make_optimizer(model, 1e-3, 0.0);
  StepSettings settings{SparseLoss(0.005, 0.05), 50, 0, 1, torch::kCUDA};
  for (int epoch = 1; epoch <= 3; ++epoch) {
    EpochProgress progress;
    ASSERT_TRUE(
        train_epoch(model, optimizer, data, settings, epoch, progress, ProgressStyle::kNone));
  }
  const auto on_gpu = evaluate(model, data, settings.loss, 128, torch::kCUDA);
  model->to(torch::kCPU);
  const auto on_cpu = evaluate(model, data, settings.loss, 128, torch::kCPU);
  EXPECT_NEAR(on_gpu.mse, on_cpu.mse, 1e-4);
  EXPECT_NEAR(on_gpu.kl, on_cpu.kl, 1e-4 * std::max(1.0, on_cpu.kl));
}

}  // namespace
}  // namespace sae
