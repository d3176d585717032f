#include <gtest/gtest.h>

#include "sae/data/dataset.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace sae {
namespace {

using test::idx_images;
using test::idx_labels;
using test::TempDir;
using test::write_bytes;

/// Expects `fn` to throw a DataError whose message contains every one of `parts`.
template <typename Fn>
void expect_data_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message '" << e.what() << "' lacks '" << part << "'";
    }
  }
}

class IdxRoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(IdxRoundTrip, ImagesAndLabelsComeBackExactly) {
  const bool gz = GetParam();
  TempDir dir;
  const auto pixels = test::synthetic_pixels(7, 3);
  const auto labels = test::synthetic_labels(7);
  write_bytes(dir / "images", idx_images(pixels, 7), gz);
  write_bytes(dir / "labels", idx_labels(labels), gz);

  const auto images = read_idx_images(dir / "images");
  ASSERT_EQ(images.sizes(), (std::vector<int64_t>{7, 28, 28}));
  EXPECT_EQ(images.dtype(), torch::kUInt8);
  EXPECT_TRUE(std::equal(pixels.begin(), pixels.end(), images.data_ptr<uint8_t>()));
  const auto read_labels = read_idx_labels(dir / "labels");
  ASSERT_EQ(read_labels.size(0), 7);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(read_labels[i].item<int64_t>(), labels[i]);
}

INSTANTIATE_TEST_SUITE_P(RawAndGzip, IdxRoundTrip, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "gz" : "raw"; });

TEST(Idx, LoadSplitPrefersGzAndChecksCounts) {
  TempDir dir;
  test::write_synthetic_mnist(dir.path().string(), 30, 20);
  const Dataset train = load_split(dir.path().string(), Split::kTrain);
  const Dataset test = load_split(dir.path().string(), Split::kTest);
  EXPECT_EQ(train.size(), 30);
  EXPECT_EQ(test.size(), 20);
  EXPECT_EQ(test.labels.max().item<int64_t>(), 9);

  // Raw files are found too.
  TempDir raw;
  write_bytes(raw / "t10k-images-idx3-ubyte", idx_images(test::synthetic_pixels(5, 1), 5), false);
  write_bytes(raw / "t10k-labels-idx1-ubyte", idx_labels(test::synthetic_labels(4)), false);
  expect_data_error([&] { load_split(raw.path().string(), Split::kTest); },
                    {"5 images but", "4 labels"});
}

TEST(Idx, BadMagicIsRejected) {
  TempDir dir;
  write_bytes(dir / "f", idx_images(test::synthetic_pixels(1, 1), 1, 28, 28, 0x801), false);
  expect_data_error([&] { read_idx_images(dir / "f"); },
                    {dir / "f", "bad magic number 0x00000801", "expected 0x00000803"});
  write_bytes(dir / "g", idx_labels({1, 2}, 0x803), true);
  expect_data_error([&] { read_idx_labels(dir / "g"); }, {"expected 0x00000801"});
}

TEST(Idx, ImagesThatAreNot28x28AreRejected) {
  TempDir dir;
  write_bytes(dir / "f", idx_images(std::vector<uint8_t>(2 * 32 * 32), 2, 32, 32), false);
  expect_data_error([&] { read_idx_images(dir / "f"); }, {"images are 32x32, expected 28x28"});
}

TEST(Idx, TruncatedPayloadSaysExpectedAndFound) {
  for (const bool gz : {false, true}) {
    TempDir dir;
    auto bytes = idx_images(test::synthetic_pixels(10, 1), 10);
    bytes.resize(16 + 1234);
    write_bytes(dir / "t10k-images-idx3-ubyte.gz", bytes, gz);
    expect_data_error([&] { read_idx_images(dir / "t10k-images-idx3-ubyte.gz"); },
                      {"t10k-images-idx3-ubyte.gz: header promises 10 images of 28x28 (7840 bytes)",
                       "but the file holds 1234 bytes"});
  }
}

TEST(Idx, HugeLyingHeaderFailsFastWithoutAllocatingIt) {
  TempDir dir;
  // 2^31 images of 28x28 would be 1.6 TB: the reader must notice the file is tiny, not allocate.
  write_bytes(dir / "f", idx_images(test::synthetic_pixels(2, 1), 1u << 31), true);
  const auto start = std::chrono::steady_clock::now();
  expect_data_error([&] { read_idx_images(dir / "f"); },
                    {"header promises 2147483648 images", "but the file holds 1568 bytes"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(Idx, TrailingBytesAreRejected) {
  TempDir dir;
  auto bytes = idx_labels({1, 2, 3});
  bytes.push_back(7);
  bytes.push_back(7);
  write_bytes(dir / "f", bytes, true);
  expect_data_error([&] { read_idx_labels(dir / "f"); }, {"2 trailing bytes", "3 labels"});
}

TEST(Idx, LabelAboveNineIsRejected) {
  TempDir dir;
  write_bytes(dir / "f", idx_labels({1, 2, 10}), false);
  expect_data_error([&] { read_idx_labels(dir / "f"); }, {"label 10 at index 2", "0..9"});
}

TEST(Idx, EmptyMissingAndDirectoryFilesAreRejected) {
  TempDir dir;
  write_bytes(dir / "empty", {}, false);
  expect_data_error([&] { read_idx_images(dir / "empty"); }, {"ends inside its header"});
  expect_data_error([&] { read_idx_images(dir / "missing"); }, {"missing: no such file"});
  std::filesystem::create_directory(dir / "folder");
  expect_data_error([&] { read_idx_images(dir / "folder"); }, {"found a directory"});
  expect_data_error([&] { load_split(dir / "nope", Split::kTrain); }, {"data folder not found"});
  // A folder of no IDX file holds no form at all; one of some IDX files misses the others.
  expect_data_error([&] { load_split(dir.path().string(), Split::kTrain); },
                    {"no data of a form sae reads", "train-images-idx3-ubyte"});
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(test::synthetic_pixels(1, 1), 1), false);
  expect_data_error([&] { load_split(dir.path().string(), Split::kTrain); },
                    {"missing train-images-idx3-ubyte (or train-images-idx3-ubyte.gz)"});
}

TEST(Idx, TruncatedGzipStreamIsRejected) {
  TempDir dir;
  write_bytes(dir / "full.gz", idx_images(test::synthetic_pixels(50, 1), 50), true);
  std::ifstream in(dir / "full.gz", std::ios::binary);
  std::vector<char> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.gz", std::ios::binary).write(gz.data(), gz.size() / 2);
  expect_data_error([&] { read_idx_images(dir / "cut.gz"); }, {"cut.gz"});
}

TEST(Idx, EpochOrderIsASeededPermutation) {
  const auto a = epoch_order(1000, 7, 1);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(a, epoch_order(1000, 7, 1));  // same seed and epoch: same order
  EXPECT_NE(a, epoch_order(1000, 7, 2));  // reshuffled every epoch
  EXPECT_NE(a, epoch_order(1000, 8, 1));
}

TEST(Idx, FloatBatchIsPixelsOver255) {
  auto images = torch::zeros({2, 28, 28}, torch::kUInt8);
  images[1][0][0] = 255;
  images[1][0][1] = 51;
  const auto batch = to_float_batch(images, torch::tensor({1}, torch::kInt64));
  ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{1, 1, 28, 28}));
  EXPECT_EQ(batch.dtype(), torch::kFloat32);
  EXPECT_FLOAT_EQ(batch[0][0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(batch[0][0][0][1].item<float>(), 51.0f / 255.0f);
  EXPECT_FLOAT_EQ(batch.sum().item<float>(), 1.0f + 51.0f / 255.0f);
}

}  // namespace
}  // namespace sae
