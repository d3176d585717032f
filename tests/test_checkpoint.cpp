// Checkpoints: one commit = step files + manifest; verified on load; older formats still read.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sae/atomic_file.hpp"
#include "sae/checkpoint.hpp"
#include "sae/run_folder.hpp"
#include "sae/train.hpp"
#include "test_util.hpp"

#include <filesystem>
#include <fstream>

namespace sae {
namespace {

namespace fs = std::filesystem;

struct Trained {
  SparseAutoencoder model;
  torch::optim::Adam optimizer;
};

/// A model and optimizer after one step from `seed`, so the optimizer has state to save.
Trained one_step(uint64_t seed) {
  torch::manual_seed(seed);
  SparseAutoencoder model;
  auto optimizer = make_optimizer(model, 1e-3, 0.0);
  train_step(model, optimizer, torch::rand({4, 1, 28, 28}), SparseLoss(0.005, 0.05));
  return {model, std::move(optimizer)};
}

TrainCursor cursor_at(int64_t steps) {
  TrainCursor cursor;
  cursor.epoch = 1;
  cursor.steps = steps;
  return cursor;
}

TEST(Checkpoint, ACommitRoundTripsAndNamesItsStepFiles) {
  test::TempDir dir;
  auto t = one_step(1);
  RunConfig config;
  config.beta = 0.02;
  config.penalty = Penalty::kL1;
  save_checkpoint(dir.path(), t.model, t.optimizer, config, cursor_at(12));
  const Checkpoint c = read_checkpoint(dir.path());
  EXPECT_EQ(c.model_path, dir / "model-00000012.pt");
  EXPECT_EQ(c.optimizer_path, dir / "optimizer-00000012.pt");
  EXPECT_EQ(c.cursor.steps, 12);
  EXPECT_EQ(c.config.beta, 0.02);
  EXPECT_EQ(c.config.penalty, Penalty::kL1);
  EXPECT_EQ(read_file(dir / "model.pt"), read_file(c.model_path));
  auto loaded = load_model(c.model_path, torch::kCPU);
  EXPECT_TRUE(torch::equal(loaded->enc3->weight, t.model->enc3->weight));
  auto optimizer = make_optimizer(loaded, 1e-3, 0.0);
  EXPECT_NO_THROW(load_optimizer(c.optimizer_path, optimizer));
}

TEST(Checkpoint, ANewCommitRemovesTheOldOnesFilesOnlyAfterItsManifest) {
  test::TempDir dir;
  auto t = one_step(1);
  save_checkpoint(dir.path(), t.model, t.optimizer, RunConfig{}, cursor_at(5));
  save_checkpoint(dir.path(), t.model, t.optimizer, RunConfig{}, cursor_at(9));
  EXPECT_FALSE(fs::exists(dir / "model-00000005.pt"));
  EXPECT_FALSE(fs::exists(dir / "optimizer-00000005.pt"));
  EXPECT_TRUE(fs::exists(dir / "model-00000009.pt"));
  // Saving the same step again keeps the committed files valid throughout.
  save_checkpoint(dir.path(), t.model, t.optimizer, RunConfig{}, cursor_at(9));
  EXPECT_NO_THROW(read_checkpoint(dir.path()));
}

TEST(Checkpoint, EqualModelsSerializeToEqualBytes) {
  one_step(9);  // the process's first MKL-DNN call may round differently by 1 ulp
  auto a = one_step(3);
  auto b = one_step(3);
  EXPECT_EQ(serialize_model(a.model), serialize_model(b.model));
  auto c = one_step(4);
  EXPECT_NE(serialize_model(a.model), serialize_model(c.model));
}

TEST(Checkpoint, ADamagedStepFileIsDetected) {
  test::TempDir dir;
  auto t = one_step(1);
  save_checkpoint(dir.path(), t.model, t.optimizer, RunConfig{}, cursor_at(3));
  std::string bytes = read_file(dir / "optimizer-00000003.pt");
  bytes[bytes.size() / 2] ^= 1;  // same size, one bit off
  write_file_atomically(dir / "optimizer-00000003.pt", bytes);
  try {
    read_checkpoint(dir.path());
    FAIL() << "a damaged optimizer file was accepted";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("CRC-32"), std::string::npos) << e.what();
  }
  fs::remove(dir / "optimizer-00000003.pt");
  EXPECT_THROW(read_checkpoint(dir.path()), CheckpointError);
  // Without verification (an explicit model file is being evaluated) the settings still read.
  EXPECT_NO_THROW(read_checkpoint(dir.path(), /*verify_files=*/false));
}

TEST(Checkpoint, UnknownFormatsAndBadCursorsAreRefused) {
  test::TempDir dir;
  auto t = one_step(1);
  save_checkpoint(dir.path(), t.model, t.optimizer, RunConfig{}, cursor_at(3));
  auto manifest = nlohmann::json::parse(read_file(dir / "checkpoint.json"));
  const auto rewrite = [&](const nlohmann::json& json) {
    write_file_atomically(dir / "checkpoint.json", json.dump());
  };
  auto newer = manifest;
  newer["format"] = 3;
  rewrite(newer);
  EXPECT_THROW(read_checkpoint(dir.path()), CheckpointError);
  auto negative = manifest;
  negative["cursor"]["epoch"] = -5;
  rewrite(negative);
  EXPECT_THROW(read_checkpoint(dir.path()), CheckpointError);
  auto bad_rho = manifest;
  bad_rho["config"]["rho"] = 2.0;
  rewrite(bad_rho);
  EXPECT_THROW(read_checkpoint(dir.path()), CheckpointError);
  rewrite(manifest);
  EXPECT_NO_THROW(read_checkpoint(dir.path()));
  EXPECT_EQ(find_checkpoint((dir / "nothing-here")), std::nullopt);
}

TEST(Checkpoint, FormatOneRunFoldersStillLoad) {
  test::TempDir dir;
  auto t = one_step(2);
  torch::save(t.model, dir / "model.pt");
  torch::save(t.optimizer, dir / "optimizer.pt");
  std::ofstream(dir / "checkpoint.json") << R"({"format": 1, "architecture": "sae-conv-64",
    "epoch": 2, "partial_epoch": {"batches": 3, "images": 150, "loss_sum": 1.5, "mse_sum": 1.0,
    "kl_sum": 20.0, "seconds": 0.5}, "beta": 0.01, "rho": 0.05, "penalty": "kl", "lr": 0.001,
    "batch_size": 50, "seed": 7, "data_dir": "data/mnist"})";
  const Checkpoint c = read_checkpoint(dir.path());
  EXPECT_EQ(c.model_path, dir / "model.pt");
  EXPECT_EQ(c.optimizer_path, dir / "optimizer.pt");
  EXPECT_EQ(c.cursor.epoch, 2);
  EXPECT_EQ(c.cursor.batches, 3);
  EXPECT_EQ(c.config.seed, 7u);
  EXPECT_EQ(c.config.batch_size, 50);
  EXPECT_EQ(c.config.beta, 0.01);
  // The next commit writes format 2 and leaves a consistent folder.
  save_checkpoint(dir.path(), t.model, t.optimizer, c.config, c.cursor);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "checkpoint.json")).at("format"), 2);
  EXPECT_NO_THROW(read_checkpoint(dir.path()));
  EXPECT_FALSE(fs::exists(dir / "optimizer.pt"));  // format 1's, replaced by the commit's own
}

TEST(Checkpoint, LeftoversOfACrashAreSwept) {
  test::TempDir dir;
  auto t = one_step(1);
  save_checkpoint(dir.path(), t.model, t.optimizer, RunConfig{}, cursor_at(4));
  for (const char* name : {"model-00000007.pt", "optimizer-00000007.pt", "model.tmpAb12Cd.pt"}) {
    std::ofstream(dir / name) << "written before a crash";
  }
  std::ofstream(dir / "notes.txt") << "the user's";
  remove_stale_checkpoint_files(dir.path());
  EXPECT_FALSE(fs::exists(dir / "model-00000007.pt"));
  EXPECT_FALSE(fs::exists(dir / "optimizer-00000007.pt"));
  EXPECT_FALSE(fs::exists(dir / "model.tmpAb12Cd.pt"));
  EXPECT_TRUE(fs::exists(dir / "model-00000004.pt"));
  EXPECT_TRUE(fs::exists(dir / "notes.txt"));
}

TEST(Checkpoint, RunDirOfAcceptsAFolderOrAFileInIt) {
  test::TempDir dir;
  std::ofstream(dir / "model.pt") << "x";
  EXPECT_EQ(run_dir_of(dir.path()), dir.path().string());
  EXPECT_EQ(run_dir_of(dir / "model.pt"), dir.path().string());
  EXPECT_THROW(run_dir_of(dir / "missing.pt"), CheckpointError);
}

}  // namespace
}  // namespace sae
