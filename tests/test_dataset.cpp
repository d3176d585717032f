// The data folder seam: which form a folder holds, torchvision's ImageFolder layout, and the
// validation split held out of the training images. NumPy folders: tests/test_npy.cpp; IDX
// files: tests/test_idx.cpp.

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include "sae/base/errors.hpp"
#include "sae/data/dataset.hpp"
#include "sae/data/npy.hpp"
#include "sae/data/user_images.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

namespace sae {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

/// Expects `fn` to throw a DataError whose message holds every one of `parts`.
template <typename Fn>
void expect_data_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no DataError; wanted: " << parts.front();
  } catch (const DataError& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << e.what() << " (wanted: " << part << ")";
    }
  }
}

/// A dark bar on light paper, 40x30, its place and length set by `variant`, as PNG or JPEG by
/// the name's extension (.png, else JPEG); creates the folders on the way.
void write_digit(const std::string& path, int variant) {
  constexpr int kWidth = 40, kHeight = 30;
  std::vector<uint8_t> pixels(kWidth * kHeight, 235);
  const int top = 4 + variant % 5, length = 10 + 3 * (variant % 7);
  for (int y = top; y < top + 18; ++y) {
    for (int x = 8; x < 8 + length; ++x) {
      if (y < top + 4 || x < 12) pixels[y * kWidth + x] = 15;
    }
  }
  fs::create_directories(fs::path(path).parent_path());
  const bool png = fs::path(path).extension() == ".png";
  const int written = png ? stbi_write_png(path.c_str(), kWidth, kHeight, 1, pixels.data(), kWidth)
                          : stbi_write_jpg(path.c_str(), kWidth, kHeight, 1, pixels.data(), 95);
  ASSERT_NE(written, 0) << path;
}

/// The images `files` as --images reads them: what an ImageFolder's images must equal.
torch::Tensor as_user_images(const std::vector<std::string>& files) {
  return load_user_images(files, Invert::kAuto).images;
}

// Detection.

TEST(DataFolder, EachFormIsDetectedByItsNames) {
  TempDir idx, images, arrays;
  test::write_synthetic_mnist(idx.path().string(), 10, 10);
  EXPECT_EQ(detect_data_form(idx.path().string()), DataForm::kIdx);
  write_digit(images / "train/a/1.png", 1);
  write_digit(images / "test/a/1.png", 2);
  EXPECT_EQ(detect_data_form(images.path().string()), DataForm::kImageFolder);
  write_npy(arrays / "train-images.npy", torch::zeros({2, 28, 28}, torch::kUInt8));
  EXPECT_EQ(detect_data_form(arrays.path().string()), DataForm::kNumpy);
  EXPECT_STREQ(data_form_name(DataForm::kImageFolder), "ImageFolder");
  // An IDX folder's split is read as it always was; its line says so.
  const Dataset train = load_split(idx.path().string(), Split::kTrain);
  EXPECT_EQ(train.num_classes, 10);
  EXPECT_TRUE(train.class_names.empty());
  EXPECT_EQ(describe_split(idx.path().string(), Split::kTrain, train),
            "IDX " + idx.path().string() + " (train: 10 images in 10 classes)");
}

TEST(DataFolder, TwoFormsAreRefusedNamingBoth) {
  TempDir dir;
  test::write_synthetic_mnist(dir.path().string(), 10, 10);
  write_digit(dir / "train/a/1.png", 1);
  expect_data_error([&] { load_split(dir.path().string(), Split::kTrain); },
                    {dir.path().string() + ": data of 2 forms: IDX (train-images-idx3-ubyte.gz",
                     "t10k-labels-idx1-ubyte.gz), ImageFolder (train/)",
                     "move the others into folders of their own"});
  write_npy(dir / "test-images.npy", torch::zeros({2, 28, 28}, torch::kUInt8));
  expect_data_error([&] { detect_data_form(dir.path().string()); },
                    {"data of 3 forms", "NumPy (test-images.npy)"});
}

TEST(DataFolder, NoFormIsRefusedSayingWhatEachNeeds) {
  TempDir dir;
  expect_data_error([&] { load_split(dir.path().string(), Split::kTrain); },
                    {dir.path().string() + ": no data of a form sae reads (it is empty)",
                     "train-images-idx3-ubyte", "scripts/fetch-data.sh",
                     "train/<class>/*.png and test/<class>/*.png",
                     "train-images.npy and "
                     "test-images.npy of shape (N, 28, 28)"});
  test::write_bytes(dir / "notes.txt", {'h', 'i'}, false);
  fs::create_directory(dir / "images");
  expect_data_error([&] { detect_data_form(dir.path().string()); },
                    {"(it holds images/, notes.txt)"});
  expect_data_error([&] { detect_data_form(dir / "notes.txt"); }, {"a file, not a data folder"});
  expect_data_error([&] { detect_data_form(dir / "nowhere"); }, {"data folder not found"});
}

// ImageFolder.

TEST(ImageFolder, ClassFoldersSortedByNameAreTheLabels) {
  TempDir dir;
  // Python's sorted(): "Zebra" before "cat" (upper case first), as ImageFolder numbers them.
  write_digit(dir / "train/cat/b.png", 1);
  write_digit(dir / "train/cat/a.JPG", 2);
  write_digit(dir / "train/cat/more/c.jpeg", 3);  // a subfolder's images come after its own
  write_digit(dir / "train/Zebra/z.png", 4);
  write_digit(dir / "train/dog/d.png", 5);
  test::write_bytes(dir / "train/dog/notes.txt", {'h', 'i'}, false);  // skipped, with a warning
  for (const char* name : {"Zebra", "cat", "dog"}) {
    write_digit(dir / (std::string("test/") + name + "/t.png"), 6);
  }
  const std::string d = dir.path().string();
  const Dataset train = load_split(d, Split::kTrain);
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"Zebra", "cat", "dog"}));
  EXPECT_EQ(train.num_classes, 3);
  EXPECT_TRUE(torch::equal(train.labels, torch::tensor({0, 1, 1, 1, 2}, torch::kInt64)));
  EXPECT_EQ(train.images.scalar_type(), torch::kUInt8);
  // Each image exactly as --images makes it, in make_dataset's order.
  EXPECT_TRUE(torch::equal(
      train.images,
      as_user_images({dir / "train/Zebra/z.png", dir / "train/cat/a.JPG", dir / "train/cat/b.png",
                      dir / "train/cat/more/c.jpeg", dir / "train/dog/d.png"})));
  const Dataset test = load_split(d, Split::kTest);
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(test.class_names, train.class_names);
  EXPECT_EQ(describe_split(d, Split::kTrain, train),
            "ImageFolder " + d + " (train: 5 images in 3 classes: Zebra, cat, dog)");
}

TEST(ImageFolder, SplitsWithOtherClassesAreRefused) {
  TempDir dir;
  for (const char* path :
       {"train/cat/1.png", "train/fox/1.png", "test/cat/1.png", "test/wolf/1.png"}) {
    write_digit(dir / path, 1);
  }
  for (const Split split : {Split::kTrain, Split::kTest}) {
    expect_data_error(
        [&] { load_split(dir.path().string(), split); },
        {"train/ and test/ hold different class folders",
         "only in train/: fox; only in test/: wolf", "a label would mean another class in each"});
  }
}

TEST(ImageFolder, BadLayoutsAreRefusedByName) {
  TempDir dir;
  const std::string d = dir.path().string();
  write_digit(dir / "train/cat/1.png", 1);
  expect_data_error([&] { load_split(d, Split::kTest); }, {dir / "test", "missing"});
  fs::create_directories(dir / "test");
  expect_data_error([&] { load_split(d, Split::kTest); }, {dir / "test", "no class folders"});
  // A class folder without images, the other split having it too.
  fs::create_directories(dir / "train/dog");
  test::write_bytes(dir / "train/dog/readme.md", {'x'}, false);
  write_digit(dir / "test/cat/1.png", 1);
  fs::create_directories(dir / "test/dog");
  write_digit(dir / "test/dog/1.png", 1);
  expect_data_error([&] { load_split(d, Split::kTrain); },
                    {dir / "train/dog", "a class folder without images",
                     "1 entry not named as an image (readme.md)"});
  write_digit(dir / "train/dog/1.jpg", 2);
  EXPECT_EQ(load_split(d, Split::kTrain).size(), 2);
  // An image beside the class folders, where ImageFolder would not see it.
  write_digit(dir / "train/stray.png", 3);
  expect_data_error([&] { load_split(d, Split::kTrain); },
                    {dir / "train/stray.png", "an image outside any class folder"});
  fs::remove(dir / "train/stray.png");
  // A symlink back up the tree: ImageFolder's os.walk would follow it for ever.
  ASSERT_EQ(::symlink("..", (dir / "train/cat/loop").c_str()), 0);
  expect_data_error([&] { load_split(d, Split::kTrain); }, {"a folder reached twice"});
  fs::remove(dir / "train/cat/loop");
  // A bad image: its own refusal, as a DataError.
  test::write_bytes(dir / "train/cat/2.png", {'n', 'o'}, false);
  expect_data_error([&] { load_split(d, Split::kTrain); },
                    {dir / "train/cat/2.png", "not an image sae reads"});
  test::write_bytes(dir / "train/cat/2.png", {'I', 'I', '*', 0, 8, 0, 0, 0}, false);
  expect_data_error([&] { load_split(d, Split::kTrain); },
                    {dir / "train/cat/2.png", "a TIFF, which sae does not decode"});
}

// The validation split.

/// `n` images whose label is their index: what a subset holds tells where it came from.
Dataset numbered(int64_t n) {
  Dataset data{torch::arange(n)
                   .remainder(256)
                   .to(torch::kUInt8)
                   .view({n, 1, 1})
                   .expand({n, 28, 28})
                   .contiguous(),
               torch::arange(n)};
  data.num_classes = n;
  return data;
}

std::vector<int64_t> indices_of(const Dataset& data) {
  const auto labels = data.labels.contiguous();
  return {labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel()};
}

TEST(HoldOut, ASeededSliceTheSameOnEveryMachine) {
  const Dataset all = numbered(20);
  const TrainValSplit split = hold_out(all, 5, 7);
  // Pinned: mt19937_64 and the draw are the same on every machine and standard library.
  EXPECT_EQ(indices_of(split.val), (std::vector<int64_t>{1, 5, 11, 12, 17}));
  EXPECT_EQ(indices_of(split.train),
            (std::vector<int64_t>{0, 2, 3, 4, 6, 7, 8, 9, 10, 13, 14, 15, 16, 18, 19}));
  EXPECT_TRUE(torch::equal(split.val.images[0], all.images[1]));  // images follow their labels
  EXPECT_EQ(split.train.num_classes, 20);                         // the classes stay
  EXPECT_EQ(split.val.num_classes, 20);
}

TEST(HoldOut, DisjointStableAndApartFromTheEpochOrder) {
  const Dataset all = numbered(1000);
  const TrainValSplit a = hold_out(all, 100, 3);
  const auto val = indices_of(a.val), train = indices_of(a.train);
  ASSERT_EQ(val.size(), 100u);
  ASSERT_EQ(train.size(), 900u);
  EXPECT_TRUE(std::is_sorted(val.begin(), val.end()));
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));  // the rest in their original order
  std::set<int64_t> both(val.begin(), val.end());
  both.insert(train.begin(), train.end());
  EXPECT_EQ(both.size(), 1000u);                          // disjoint, and nothing lost
  EXPECT_EQ(indices_of(hold_out(all, 100, 3).val), val);  // same seed, same slice
  EXPECT_NE(indices_of(hold_out(all, 100, 4).val), val);
  // A larger count holds out more of the same images.
  const auto more = indices_of(hold_out(all, 200, 3).val);
  EXPECT_TRUE(std::includes(more.begin(), more.end(), val.begin(), val.end()));
  // Not the first images of an epoch's order with the same seed.
  auto first = epoch_order(1000, 3, 1);
  first.resize(100);
  std::sort(first.begin(), first.end());
  EXPECT_NE(first, val);
}

TEST(HoldOut, NoneLeavesTheTrainingSetAsItIs) {
  const Dataset all = numbered(30);
  const TrainValSplit split = hold_out(all, 0, 1);
  EXPECT_TRUE(torch::equal(split.train.images, all.images));
  EXPECT_TRUE(torch::equal(split.train.labels, all.labels));
  EXPECT_EQ(split.val.size(), 0);
  EXPECT_THROW(hold_out(all, 30, 1), c10::Error);
  EXPECT_THROW(hold_out(all, -1, 1), c10::Error);
}

TEST(ValCount, TheSizeOrTheFractionRoundedDown) {
  EXPECT_EQ(val_count(100, 0, 0), 0);
  EXPECT_EQ(val_count(0, 0, 0), 0);
  EXPECT_EQ(val_count(100, 0.1, 0), 10);
  EXPECT_EQ(val_count(100, 0.29, 0), 29);  // 0.29 * 100 is 28.999999999999996 in doubles
  EXPECT_EQ(val_count(60000, 0.1, 0), 6000);
  EXPECT_EQ(val_count(55, 0.1, 0), 5);
  EXPECT_EQ(val_count(100, 0, 99), 99);
  const auto refused = [](int64_t n, double fraction, int64_t size, const std::string& part) {
    try {
      val_count(n, fraction, size);
      ADD_FAILURE() << "accepted; wanted: " << part;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  refused(100, 1.0, 0, "--val-fraction 1: expected a fraction in [0, 1)");
  refused(100, -0.1, 0, "--val-fraction -0.1");
  refused(100, std::nan(""), 0, "expected a fraction in [0, 1)");
  refused(100, 0, -1, "--val-size -1: expected 0 (none) or more");
  refused(100, 0.1, 5, "--val-size 5 and --val-fraction 0.1 both say");
  refused(5, 0.1, 0, "--val-fraction 0.1 of the 5 training images holds out none");
  refused(100, 0, 100, "--val-size holds out 100 of the 100 training images, leaving none");
}

}  // namespace
}  // namespace sae
