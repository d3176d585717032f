// Your own images: any PNG made MNIST-like (gray, white on black, 20x20 box, centre of mass at
// the centre of 28x28), and bad files refused with one line naming them.

#include <gtest/gtest.h>
#include <png.h>
#include <stb/stb_image_write.h>

#include "sae/user_images.hpp"
#include "test_util.hpp"

#include <cstdio>

namespace sae {
namespace {

/// A dark stroke (a thick "L") on light paper, `width` x `height`, with `channels` channels.
std::vector<uint8_t> paper_with_stroke(int width, int height, int channels) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * channels, 230);
  for (int y = height / 5; y < height * 4 / 5; ++y) {
    for (int x = width / 3; x < width * 2 / 3; ++x) {
      const bool ink = x < width / 3 + width / 10 || y > height * 4 / 5 - height / 10;
      if (!ink) continue;
      for (int c = 0; c < channels; ++c)
        pixels[(static_cast<size_t>(y) * width + x) * channels + c] = 20;
    }
  }
  if (channels == 4) {  // opaque everywhere
    for (size_t i = 3; i < pixels.size(); i += 4) pixels[i] = 255;
  }
  return pixels;
}

/// Writes a 16-bit grayscale PNG with libpng (stb_image_write writes 8 bits only).
void write_png16(const std::string& path, int width, int height,
                 const std::vector<uint8_t>& gray8) {
  FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  std::vector<uint8_t> row(static_cast<size_t>(width) * 2);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const uint16_t v = static_cast<uint16_t>(gray8[static_cast<size_t>(y) * width + x] * 257);
      row[2 * x] = static_cast<uint8_t>(v >> 8);  // PNG is big-endian
      row[2 * x + 1] = static_cast<uint8_t>(v & 0xff);
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

/// The digit's bounding box and centre of mass in a (28, 28) image.
struct Placement {
  int top = 28, bottom = -1, left = 28, right = -1;
  double cy = 0, cx = 0;
};
Placement placement_of(const torch::Tensor& image) {
  Placement p;
  double mass = 0;
  auto a = image.accessor<float, 2>();
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      if (a[y][x] > 0.25f) {
        p.top = std::min(p.top, y), p.bottom = std::max(p.bottom, y);
        p.left = std::min(p.left, x), p.right = std::max(p.right, x);
      }
      mass += a[y][x], p.cy += a[y][x] * y, p.cx += a[y][x] * x;
    }
  }
  p.cy /= mass, p.cx /= mass;
  return p;
}

void expect_mnist_like(const torch::Tensor& image, const std::string& what) {
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{28, 28})) << what;
  EXPECT_GE(image.min().item<float>(), 0.0f) << what;
  EXPECT_LE(image.max().item<float>(), 1.0f) << what;
  EXPECT_GT(image.max().item<float>(), 0.8f) << what;  // white ink
  const Placement p = placement_of(image);
  EXPECT_EQ(std::max(p.bottom - p.top, p.right - p.left) + 1, 20) << what << ": fitted into 20x20";
  EXPECT_NEAR(p.cy, 13.5, 1.0) << what << ": centre of mass";
  EXPECT_NEAR(p.cx, 13.5, 1.0) << what << ": centre of mass";
  EXPECT_LT(image[0][0].item<float>(), 0.05f) << what << ": black paper";
}

TEST(UserImages, AnyPngBecomesAnMnistLikeDigit) {
  test::TempDir dir;
  for (const int channels : {1, 3, 4}) {
    const auto pixels = paper_with_stroke(90, 60, channels);
    const std::string path = dir / ("c" + std::to_string(channels) + ".png");
    ASSERT_NE(stbi_write_png(path.c_str(), 90, 60, channels, pixels.data(), 90 * channels), 0);
    expect_mnist_like(load_user_image(path, Invert::kAuto), path);
  }
  const std::string deep = dir / "gray16.png";
  write_png16(deep, 40, 100, paper_with_stroke(40, 100, 1));
  expect_mnist_like(load_user_image(deep, Invert::kAuto), deep);

  // Already white on black: auto leaves it, and --invert no agrees.
  auto dark = paper_with_stroke(50, 50, 1);
  for (auto& v : dark) v = static_cast<uint8_t>(255 - v);
  const std::string light_ink = dir / "dark.png";
  ASSERT_NE(stbi_write_png(light_ink.c_str(), 50, 50, 1, dark.data(), 50), 0);
  EXPECT_TRUE(torch::equal(load_user_image(light_ink, Invert::kAuto),
                           load_user_image(light_ink, Invert::kNo)));
  expect_mnist_like(load_user_image(light_ink, Invert::kNo), light_ink);
}

TEST(UserImages, FoldersAreTheirPngsInNameOrderAndBatchesAreUint8) {
  test::TempDir dir;
  const auto pixels = paper_with_stroke(30, 30, 1);
  for (const char* name : {"b.png", "a.png", "notes.txt"}) {
    ASSERT_NE(stbi_write_png((dir / name).c_str(), 30, 30, 1, pixels.data(), 30), 0);
  }
  const auto files = expand_image_paths({dir.path().string()});
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], dir / "a.png");
  const Dataset data = load_user_images(files, Invert::kAuto);
  EXPECT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 28, 28}));
  EXPECT_EQ(data.images.scalar_type(), torch::kUInt8);
}

TEST(UserImages, BadFilesAreRefusedByName) {
  test::TempDir dir;
  const auto refused = [](const std::string& path, const std::string& needle) {
    try {
      load_user_image(path, Invert::kAuto);
      ADD_FAILURE() << path << " was accepted";
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(needle), std::string::npos)
          << message << " (wanted: " << needle << ")";
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  };
  refused(dir / "missing.png", "no such file");
  test::write_bytes(dir / "text.png", {'h', 'e', 'l', 'l', 'o'}, false);
  refused(dir / "text.png", "not an image");
  // A PNG header that claims 100000 x 100000 pixels, and one that claims 0 x 0.
  const auto header = [](uint32_t side) {
    std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                              0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    for (int i = 0; i < 2; ++i) {
      b.insert(b.end(), {static_cast<uint8_t>(side >> 24), static_cast<uint8_t>(side >> 16),
                         static_cast<uint8_t>(side >> 8), static_cast<uint8_t>(side)});
    }
    b.insert(b.end(), {8, 0, 0, 0, 0, 0, 0, 0, 0});  // depth, type, ..., a CRC nobody checks
    return b;
  };
  test::write_bytes(dir / "huge.png", header(100000), false);
  refused(dir / "huge.png", "100000x100000");
  test::write_bytes(dir / "empty.png", header(0), false);
  refused(dir / "empty.png", "0x0 pixels");
  // A real PNG cut in half.
  const auto pixels = paper_with_stroke(60, 60, 1);
  ASSERT_NE(stbi_write_png((dir / "whole.png").c_str(), 60, 60, 1, pixels.data(), 60), 0);
  const std::string whole = test::read_text(dir / "whole.png");
  test::write_bytes(dir / "cut.png",
                    std::vector<uint8_t>(whole.begin(), whole.begin() + whole.size() / 2), false);
  refused(dir / "cut.png", "");
  // A blank page.
  const std::vector<uint8_t> blank(40 * 40, 255);
  ASSERT_NE(stbi_write_png((dir / "blank.png").c_str(), 40, 40, 1, blank.data(), 40), 0);
  refused(dir / "blank.png", "blank");
}

TEST(UserImages, EncodeAndReconstructTakeThemAndABadOneWritesNothing) {
  test::TempDir dir;
  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  const auto pixels = paper_with_stroke(64, 64, 3);
  ASSERT_NE(stbi_write_png((dir / "mine.png").c_str(), 64, 64, 3, pixels.data(), 64 * 3), 0);
  const auto encoded = test::run_sae({"encode", "--checkpoint", run, "--images", dir / "mine.png",
                                      dir / "mine.png", "--out", dir / "codes", "--quiet"});
  ASSERT_EQ(encoded.exit_code, 0) << encoded.err;
  EXPECT_EQ(test::read_text(dir / "codes/files.txt"), dir / "mine.png\n" + dir / "mine.png\n");
  EXPECT_TRUE(std::filesystem::exists(dir / "codes/codes.npy"));
  EXPECT_FALSE(std::filesystem::exists(dir / "codes/labels.npy"));

  const auto drawn = test::run_sae({"reconstruct", "--checkpoint", run, "--images",
                                    dir / "mine.png", "--out", dir / "recon", "--quiet"});
  ASSERT_EQ(drawn.exit_code, 0) << drawn.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "recon/reconstructions.png"));

  const auto bad = test::run_sae({"encode", "--checkpoint", run, "--images", dir / "mine.png",
                                  dir / "nothing.png", "--out", dir / "bad", "--quiet"});
  test::expect_clean_failure(bad, "nothing.png: no such file");
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));
}

}  // namespace
}  // namespace sae
