// Every bad input through the real binary: one line on stderr, a non-zero exit, no crash, and no
// run folder left behind.

#include <gtest/gtest.h>
#include <unistd.h>

#include "sae/model/model.hpp"
#include "test_util.hpp"

#include <filesystem>
#include <fstream>
#include <functional>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::expect_clean_failure;
using test::idx_images;
using test::idx_labels;
using test::run_sae;
using test::write_bytes;

constexpr const char* kTestImages = "t10k-images-idx3-ubyte.gz";
constexpr const char* kTestLabels = "t10k-labels-idx1-ubyte.gz";

/// A data folder that is good except for what `spoil` does to it.
struct DataCase {
  const char* name;
  std::function<void(const std::string& dir)> spoil;
  const char* message;  // part of the expected error
};

std::vector<uint8_t> images(uint32_t count) {
  return idx_images(test::synthetic_pixels(count, 1), count);
}

std::vector<DataCase> data_cases() {
  return {
      {"FolderMissing", [](const std::string& dir) { fs::remove_all(dir); },
       "data folder not found"},
      {"FileMissing", [](const std::string& dir) { fs::remove(dir + "/" + kTestLabels); },
       "missing t10k-labels-idx1-ubyte"},
      {"EmptyFile", [](const std::string& dir) { write_bytes(dir + "/" + kTestImages, {}, false); },
       "ends inside its header"},
      {"TruncatedGzip",
       [](const std::string& dir) {
         const std::string gz = test::read_text(dir + "/" + kTestImages);
         std::ofstream(dir + "/" + kTestImages, std::ios::binary).write(gz.data(), gz.size() / 2);
       },
       "corrupt or truncated gzip"},
      {"TrailingGarbage",
       [](const std::string& dir) {
         auto bytes = images(20);
         bytes.insert(bytes.end(), {1, 2, 3});
         write_bytes(dir + "/" + kTestImages, bytes, true);
       },
       "3 trailing bytes"},
      {"WrongMagic",
       [](const std::string& dir) {
         write_bytes(dir + "/" + kTestImages,
                     idx_images(test::synthetic_pixels(20, 1), 20, 28, 28, 0x1f8b0808), true);
       },
       "bad magic number 0x1f8b0808"},
      {"HeaderPromisesMore",
       [](const std::string& dir) {
         write_bytes(dir + "/" + kTestImages, idx_images(test::synthetic_pixels(20, 1), 21), true);
       },
       "header promises 21 images of 28x28 (16464 bytes) but the file holds 15680 bytes"},
      {"TwoToThe31Images",
       [](const std::string& dir) {
         write_bytes(dir + "/" + kTestImages, idx_images(test::synthetic_pixels(20, 1), 1u << 31),
                     true);
       },
       "header promises 2147483648 images"},
      {"CountsDiffer",
       [](const std::string& dir) {
         write_bytes(dir + "/" + kTestLabels, idx_labels(test::synthetic_labels(19)), true);
       },
       "20 images but"},
      {"LabelAboveNine",
       [](const std::string& dir) {
         auto labels = test::synthetic_labels(20);
         labels[7] = 12;
         write_bytes(dir + "/" + kTestLabels, idx_labels(labels), true);
       },
       "label 12 at index 7"},
      {"Not28x28",
       [](const std::string& dir) {
         write_bytes(dir + "/" + kTestImages,
                     idx_images(std::vector<uint8_t>(20 * 32 * 32), 20, 32, 32), true);
       },
       "images are 32x32, expected 28x28"},
      {"FolderInsteadOfFile",
       [](const std::string& dir) {
         fs::remove(dir + "/" + kTestImages);
         fs::create_directory(dir + "/" + kTestImages);
       },
       "found a directory"},
      {"UnreadableFile",
       [](const std::string& dir) {
         // Reading /proc/self/mem at offset 0 fails with EIO, even for root.
         fs::remove(dir + "/" + kTestImages);
         fs::create_symlink("/proc/self/mem", dir + "/" + kTestImages);
       },
       "cannot read"},
  };
}

class BadData : public ::testing::TestWithParam<DataCase> {};

TEST_P(BadData, TrainFailsCleanlyAndLeavesNoRunFolder) {
  test::TempDir tmp;
  const std::string data = tmp / "data";
  test::write_synthetic_mnist(data, 50, 20);
  GetParam().spoil(data);
  const auto r = run_sae({"train", "--data-dir", data, "--out", tmp / "run", "--epochs", "1"});
  expect_clean_failure(r, GetParam().message);
  EXPECT_FALSE(fs::exists(tmp / "run"));
}

INSTANTIATE_TEST_SUITE_P(Data, BadData, ::testing::ValuesIn(data_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BadData, FileWithoutReadPermission) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file; UnreadableFile covers this case";
  test::TempDir tmp;
  test::write_synthetic_mnist(tmp / "data", 50, 20);
  fs::permissions(tmp / "data/t10k-images-idx3-ubyte.gz", fs::perms::none);
  expect_clean_failure(run_sae({"train", "--data-dir", tmp / "data", "--out", tmp / "run"}),
                       "cannot open");
}

/// A flag or config value that must be refused before anything is written.
struct FlagCase {
  const char* name;
  std::vector<std::string> args;
  const char* message;
};

class BadFlags : public ::testing::TestWithParam<FlagCase> {};

TEST_P(BadFlags, TrainRefusesThemCleanly) {
  test::TempDir tmp;
  test::write_synthetic_mnist(tmp / "data", 50, 20);
  std::ofstream(tmp / "unknown.toml") << "[train]\nepochs = 2\nbetta = 0.1\n";
  std::ofstream(tmp / "syntax.toml") << "[train]\nepochs = \"3\nbeta = ]]\n";
  std::vector<std::string> args = {"train", "--data-dir", tmp / "data", "--out", tmp / "run"};
  for (const auto& a : GetParam().args) {
    args.push_back(a.rfind("CFG:", 0) == 0 ? tmp / a.substr(4) : a);
  }
  expect_clean_failure(run_sae(args), GetParam().message);
  EXPECT_FALSE(fs::exists(tmp / "run"));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, BadFlags,
    ::testing::Values(
        FlagCase{"RhoZero",
                 {"--rho", "0"},
                 "--rho must be strictly between 0 and 1 (in float32), got 0"},
        FlagCase{
            "RhoOne", {"--rho", "1"}, "--rho must be strictly between 0 and 1 (in float32), got 1"},
        FlagCase{"BetaNegative", {"--beta", "-0.1"}, "--beta must be a finite number >= 0"},
        FlagCase{"LrZero", {"--lr", "0"}, "--lr must be a positive number"},
        FlagCase{"LrNegative", {"--lr", "-1e-3"}, "--lr must be a positive number"},
        FlagCase{"EpochsZero", {"--epochs", "0"}, "--epochs must be at least 1"},
        FlagCase{"BatchSizeZero", {"--batch-size", "0"}, "--batch-size must be at least 1"},
        FlagCase{"TestBatchSizeZero", {"--test-batch-size", "0"}, "--test-batch-size must be"},
        FlagCase{"ThreadsNegative", {"--threads", "-2"}, "--threads must be 0"},
        FlagCase{"UnknownDevice", {"--device", "tpu"}, "unknown device 'tpu'"},
        FlagCase{"NotANumber", {"--beta", "lots"}, "--beta"},
        FlagCase{"UnknownCode", {"--code", "dense"}, "--code"},
        FlagCase{"KZero", {"--code", "topk", "--k", "0"}, "--k must be between 1 and 64"},
        FlagCase{
            "KAboveTheCode", {"--code", "batchtopk", "--k", "65"}, "--k must be between 1 and 64"},
        FlagCase{
            "KForSigmoid", {"--k", "8"}, "--k applies to --code topk and batchtopk, not sigmoid"},
        // Given, even at its default value, a setting of another kind is refused.
        FlagCase{"KAtItsDefaultForSigmoid", {"--k", "16"}, "--k applies to --code topk"},
        FlagCase{"BetaForTopK",
                 {"--code", "topk", "--beta", "0.005"},
                 "--beta applies to --code sigmoid and relu, not topk"},
        FlagCase{"BandwidthZero",
                 {"--code", "jumprelu", "--bandwidth", "0"},
                 "--bandwidth must be a positive number"},
        FlagCase{"BandwidthNegative",
                 {"--code", "jumprelu", "--bandwidth", "-1"},
                 "--bandwidth must be a positive number"},
        FlagCase{"AuxKAboveTheCode",
                 {"--code", "topk", "--aux-k", "65"},
                 "--aux-k must be between 0 and 64"},
        FlagCase{"UnknownConfigKey", {"--config", "CFG:unknown.toml"}, "betta"},
        FlagCase{"ConfigSyntaxError", {"--config", "CFG:syntax.toml"}, "syntax.toml:2:"},
        FlagCase{"ConfigMissing", {"--config", "CFG:nope.toml"}, "nope.toml"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BadFlags, CudaWhereThereIsNone) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  test::TempDir tmp;
  test::write_synthetic_mnist(tmp / "data", 50, 20);
  for (const char* device : {"cuda", "cuda:1"}) {
    expect_clean_failure(
        run_sae({"train", "--device", device, "--data-dir", tmp / "data", "--out", tmp / "run"}),
        "no CUDA GPU");
  }
  EXPECT_FALSE(fs::exists(tmp / "run"));
}

/// A model with the original layer names but other shapes.
struct WideAutoencoderImpl : torch::nn::Module {
  WideAutoencoderImpl() {
    register_module("enc1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3)));
    register_module("enc2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 32, 3)));
  }
};
TORCH_MODULE(WideAutoencoder);

class BadCheckpoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new test::TempDir(); }
  static void TearDownTestSuite() { delete dir_; }
  static std::string good_run() {
    return test::shared_run({"--epochs", "1", "--data-dir", test::shared_data(50, 20)});
  }

  /// A copy of the good run whose model.pt is `bytes`.
  static std::string spoiled_run(const std::string& name, const std::string& bytes) {
    const std::string run = *dir_ / name;
    fs::create_directory(run);
    fs::copy_file(good_run() + "/checkpoint.json", run + "/checkpoint.json");
    std::ofstream(run + "/model.pt", std::ios::binary) << bytes;
    return run + "/model.pt";
  }
  static std::string good_model() { return test::read_text(good_run() + "/model.pt"); }

  static void expect_refused(const std::string& model_path, const std::string& message) {
    expect_clean_failure(run_sae({"eval", "--checkpoint", model_path}), message);
    test::TempDir out;
    expect_clean_failure(
        run_sae({"reconstruct", "--checkpoint", model_path, "--out", out / "pictures"}), message);
    EXPECT_FALSE(fs::exists(out / "pictures/reconstructions.png"));
  }
  static test::TempDir* dir_;
};
test::TempDir* BadCheckpoint::dir_ = nullptr;

TEST_F(BadCheckpoint, Missing) {
  expect_refused(*dir_ / "nowhere/model.pt", "no such file or folder");
  const std::string run = *dir_ / "no-model";
  fs::create_directory(run);
  fs::copy_file(good_run() + "/checkpoint.json", run + "/checkpoint.json");
  expect_refused(run + "/model.pt", "no such file or folder");
  // A folder whose manifest names files that are gone: damaged, said so.
  expect_refused(run, "which is missing");
}

TEST_F(BadCheckpoint, Truncated) {
  const std::string good = good_model();
  expect_refused(spoiled_run("truncated", good.substr(0, good.size() / 2)),
                 "not a readable sae model");
}

TEST_F(BadCheckpoint, RandomBytes) {
  std::string noise(4096, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 2654435761u) >> 13);
  expect_refused(spoiled_run("noise", noise), "not a readable sae model");
}

TEST_F(BadCheckpoint, AnotherArchitecture) {
  test::TempDir tmp;
  WideAutoencoder wide;
  torch::save(wide, tmp / "wide.pt");
  expect_refused(spoiled_run("wide", test::read_text(tmp / "wide.pt")), "not a readable sae model");
  // Same names, other shapes: torch::load would silently take them; we must not.
  SparseAutoencoder model;
  {
    torch::NoGradGuard no_grad;
    model->enc3->weight.set_(torch::zeros({64, 32, 5, 5}));
  }
  torch::save(model, tmp / "reshaped.pt");
  expect_refused(spoiled_run("reshaped", test::read_text(tmp / "reshaped.pt")),
                 "parameter enc3.weight has shape [64, 32, 5, 5], expected [64, 32, 7, 7]");
}

}  // namespace
}  // namespace sae
