// Your own images: any image file made MNIST-like (gray, white on black, 20x20 box, centre of mass
// at the centre of 28x28), and bad files refused with one line naming them.

#include <gtest/gtest.h>
#include <png.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "sae/data/npy.hpp"
#include "sae/data/user_images.hpp"
#include "test_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>

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

/// Writes a 16-bit PNG of libpng colour type `color` (stb_image_write writes 8 bits only), row y
/// being `row(y)`, big-endian samples as PNG stores them.
void write_png16(const std::string& path, int width, int height, int color,
                 const std::function<std::vector<uint8_t>(int)>& row) {
  FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, 16, color, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, row(y).data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

/// A 16-bit gray PNG of the 8-bit pixels `gray8`.
void write_gray16(const std::string& path, int width, int height,
                  const std::vector<uint8_t>& gray8) {
  write_png16(path, width, height, PNG_COLOR_TYPE_GRAY, [&](int y) {
    std::vector<uint8_t> row(static_cast<size_t>(width) * 2);
    for (int x = 0; x < width; ++x) {
      const uint16_t v = static_cast<uint16_t>(gray8[static_cast<size_t>(y) * width + x] * 257);
      row[2 * x] = static_cast<uint8_t>(v >> 8);
      row[2 * x + 1] = static_cast<uint8_t>(v & 0xff);
    }
    return row;
  });
}

/// Appends `value` to `bytes` big-endian, as PNG stores numbers.
void append_be32(std::vector<uint8_t>& bytes, uint32_t value) {
  bytes.insert(bytes.end(), {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                             static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)});
}

/// Appends the PNG chunk `type` holding `data`, its CRC included.
void append_chunk(std::vector<uint8_t>& bytes, const char* type, const std::vector<uint8_t>& data) {
  append_be32(bytes, static_cast<uint32_t>(data.size()));
  const size_t type_at = bytes.size();
  bytes.insert(bytes.end(), type, type + 4);
  bytes.insert(bytes.end(), data.begin(), data.end());
  append_be32(bytes, static_cast<uint32_t>(crc32(0, bytes.data() + type_at, 4 + data.size())));
}

/// The bytes of a PNG that is only a signature and an IHDR claiming `width` x `height` at `depth`
/// bits of colour type `color` (then IEND when `end`): sae's header checks read no further.
std::vector<uint8_t> png_header(uint32_t width, uint32_t height, uint8_t depth = 8,
                                uint8_t color = 0, bool end = false) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, ihdr;
  append_be32(ihdr, width);
  append_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {depth, color, 0, 0, 0});  // compression, filter, interlace
  append_chunk(b, "IHDR", ihdr);
  if (end) append_chunk(b, "IEND", {});
  return b;
}

/// A `width` x `height` 8-bit gray PNG of `gray8` with a comment (a tEXt chunk), its image data
/// stored, not compressed: a flipped byte in either leaves stb_image decoding the same pixels.
std::vector<uint8_t> commented_gray_png(int width, int height, const std::vector<uint8_t>& gray8) {
  std::vector<uint8_t> bytes;
  const auto append = [](png_structp png, png_bytep data, size_t n) {
    auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
    out->insert(out->end(), data, data + n);
  };
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &bytes, append, nullptr);
  png_set_compression_level(png, 0);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_text comment{};
  comment.compression = PNG_TEXT_COMPRESSION_NONE;
  comment.key = const_cast<char*>("Comment");
  comment.text = const_cast<char*>("a digit drawn by hand");
  png_set_text(png, info, &comment, 1);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) {
    png_write_row(png, gray8.data() + static_cast<size_t>(y) * width);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return bytes;
}

/// Where the data of the first `type` chunk starts in `png`.
size_t chunk_data_at(const std::vector<uint8_t>& png, const std::string& type) {
  return std::search(png.begin(), png.end(), type.begin(), type.end()) - png.begin() + type.size();
}

/// A `width` x `height` RGBA 16-bit PNG of one colour.
void write_flat_rgba16(const std::string& path, int width, int height) {
  const std::vector<uint8_t> row(static_cast<size_t>(width) * 8, 0x80);
  write_png16(path, width, height, PNG_COLOR_TYPE_RGBA, [&](int) { return row; });
}

/// The bytes of a GIF of the 8-bit gray `pixels` (`width` x `height`) in a palette of 4 grays:
/// a clear code before each pixel keeps every LZW code 3 bits wide (valid, if 4x too large).
std::vector<uint8_t> gif_bytes(int width, int height, const std::vector<uint8_t>& pixels) {
  const auto w = static_cast<uint8_t>(width), h = static_cast<uint8_t>(height);
  std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', w,   0,   h,   0,   0x81, 0,  0,
                              0,   0,   0,   85,  85,  85,  170, 170, 170, 255, 255,  255};
  gif.insert(gif.end(), {0x2c, 0, 0, 0, 0, w, 0, h, 0, 0, /*LZW minimum code size=*/2});
  std::vector<uint8_t> codes;
  uint32_t bits = 0;
  int count = 0;
  const auto put = [&](uint32_t code) {
    bits |= code << count;
    for (count += 3; count >= 8; count -= 8, bits >>= 8) codes.push_back(bits & 0xff);
  };
  for (const uint8_t v : pixels) put(4), put(v / 64);  // clear, then the pixel's palette index
  put(5);                                              // end of information
  if (count > 0) codes.push_back(bits & 0xff);
  for (size_t at = 0; at < codes.size(); at += 255) {
    const size_t n = std::min<size_t>(255, codes.size() - at);
    gif.push_back(static_cast<uint8_t>(n));
    gif.insert(gif.end(), codes.begin() + at, codes.begin() + at + n);
  }
  gif.insert(gif.end(), {0, 0x3b});  // the last block, the trailer
  return gif;
}

/// The bytes of a binary PGM (P5) of the 8-bit gray `pixels`.
std::vector<uint8_t> pgm_bytes(int width, int height, const std::vector<uint8_t>& pixels) {
  const std::string header =
      "P5\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
  std::vector<uint8_t> bytes(header.begin(), header.end());
  bytes.insert(bytes.end(), pixels.begin(), pixels.end());
  return bytes;
}

/// The bytes of `path`.
std::vector<uint8_t> file_bytes(const std::string& path) {
  const std::string text = test::read_text(path);
  return {text.begin(), text.end()};
}

/// The message load_user_image throws for `path` ("" when it accepts the file).
std::string refusal(const std::string& path) {
  try {
    load_user_image(path, Invert::kAuto);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
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
  write_gray16(deep, 40, 100, paper_with_stroke(40, 100, 1));
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

TEST(UserImages, FoldersAreTheirImagesInNameOrderAndBatchesAreUint8) {
  test::TempDir dir;
  const auto pixels = paper_with_stroke(30, 30, 1);
  for (const char* name : {"b.png", "a.png", "notes.txt"}) {
    ASSERT_NE(stbi_write_png((dir / name).c_str(), 30, 30, 1, pixels.data(), 30), 0);
  }
  // A JPEG, its extension in capitals: read from the folder as it is when named.
  ASSERT_NE(stbi_write_jpg((dir / "c.JPG").c_str(), 30, 30, 1, pixels.data(), 95), 0);
  std::filesystem::create_directory(dir / "more");  // not read: a warning counts it
  const auto files = expand_image_paths({dir.path().string()});
  EXPECT_EQ(files, (std::vector<std::string>{dir / "a.png", dir / "b.png", dir / "c.JPG"}));
  const Dataset data = load_user_images(files, Invert::kAuto);
  EXPECT_EQ(data.images.sizes(), (std::vector<int64_t>{3, 28, 28}));
  EXPECT_EQ(data.images.scalar_type(), torch::kUInt8);
  EXPECT_FALSE(data.labelled());
  EXPECT_TRUE(
      torch::equal(data.images[2], load_user_images({dir / "c.JPG"}, Invert::kAuto).images[0]));
  // What the warning says of the rest, and the refusal of a folder of no image.
  EXPECT_EQ(
      not_images_note({dir / "notes.txt", dir / "more/"})
          .rfind("2 entries not named as images (notes.txt, more/); images are files named .bmp",
                 0),
      0u);
  test::TempDir empty;
  try {
    expand_image_paths({empty.path().string()});
    ADD_FAILURE() << "an empty folder was taken";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              empty.path().string() + ": an empty folder; expected image files in it");
  }
  for (const std::string& ext : image_extensions()) {
    EXPECT_TRUE(is_image_name("x" + ext)) << ext;  // image_extensions() is sorted
  }
  EXPECT_TRUE(is_image_name("photo.JPEG"));
  EXPECT_FALSE(is_image_name("notes.txt"));
  EXPECT_FALSE(is_image_name("png"));
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
  refused(dir / "text.png", "not an image sae reads");
  // A PNG header that claims 100000 x 100000 pixels, and one that claims 0 x 0.
  test::write_bytes(dir / "huge.png", png_header(100000, 100000), false);
  refused(dir / "huge.png", "100000x100000");
  test::write_bytes(dir / "empty.png", png_header(0, 0), false);
  refused(dir / "empty.png", "0x0 pixels");
  // A real PNG cut in half.
  const auto pixels = paper_with_stroke(60, 60, 1);
  ASSERT_NE(stbi_write_png((dir / "whole.png").c_str(), 60, 60, 1, pixels.data(), 60), 0);
  const std::string whole = test::read_text(dir / "whole.png");
  test::write_bytes(dir / "cut.png",
                    std::vector<uint8_t>(whole.begin(), whole.begin() + whole.size() / 2), false);
  const std::string cut_at = std::to_string(whole.size() / 2) + " bytes";
  refused(dir / "cut.png",
          "cannot decode it: a corrupt or truncated PNG (libpng: the file ends after " + cut_at);
  // Twice: nothing of the first failure is left to the second.
  refused(dir / "cut.png",
          "cannot decode it: a corrupt or truncated PNG (libpng: the file ends after " + cut_at);
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

// Issue 20: a valid 16384x16384 RGBA 16-bit PNG said "cannot decode it (no SOI)". It is now
// refused from its header, by what it would cost; only the header matters, so the files are tiny.
TEST(UserImages, PngsBeyondTheMemoryBoundAreRefusedFromTheirHeader) {
  test::TempDir dir;
  const auto says = [](const std::string& path, const std::string& needle) {
    const std::string message = refusal(path);
    EXPECT_EQ(message.rfind(path + ": " + needle, 0), 0u)
        << message << " (wanted: " << needle << ")";
  };
  test::write_bytes(dir / "wide.png", png_header(8193, 3), false);
  says(dir / "wide.png", "8193x3 pixels; expected 1 to 8192 on each side: scale it down");
  // One row over 256 MiB of samples at 16 bits; at 8 bits the same size is inside the bound, and
  // this header-only file gets as far as the decoder.
  test::write_bytes(dir / "deep.png", png_header(8192, 4097, 16, 6), false);
  says(dir / "deep.png",
       "too large to decode: 8192x4097 RGBA 16-bit needs 256.1 MiB; expected at most 256.0 MiB");
  EXPECT_NE(refusal(dir / "deep.png").find("save it with 8 bits per channel"), std::string::npos);
  test::write_bytes(dir / "edge.png", png_header(8192, 8192, 8, 6, /*end=*/true), false);
  says(dir / "edge.png",
       "cannot decode it: a corrupt or truncated PNG (libpng: IEND: out of place)");
  // A file larger than any PNG within the bound needs (sparse: it takes no disk).
  test::write_bytes(dir / "padded.png", png_header(100, 60, 8, 0, /*end=*/true), false);
  ASSERT_EQ(::truncate((dir / "padded.png").c_str(), 385 << 20), 0);
  says(dir / "padded.png", "a PNG file of 385.0 MiB; expected at most 384.0 MiB");

  // Through the binary: one line with the file, what it would cost, and the fix; nothing written.
  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  test::write_bytes(dir / "scan.png", png_header(7000, 7000, 16, 2), false);
  const auto r = test::run_sae(
      {"encode", "--checkpoint", run, "--images", dir / "scan.png", "--out", dir / "out"});
  test::expect_clean_failure(r,
                             "scan.png: too large to decode: 7000x7000 RGB 16-bit needs 280.4 "
                             "MiB; expected at most 256.0 MiB");
  EXPECT_NE(r.err.find("scale it down"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("SOI"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

TEST(UserImages, EveryFormatStbImageReadsIsReadByItsContent) {
  test::TempDir dir;
  const auto rgb = paper_with_stroke(48, 32, 3);
  const auto gray = paper_with_stroke(48, 32, 1);
  // A JPEG named .png is read as the JPEG it is.
  ASSERT_NE(stbi_write_jpg((dir / "photo.png").c_str(), 48, 32, 3, rgb.data(), 90), 0);
  ASSERT_NE(stbi_write_jpg((dir / "photo.jpg").c_str(), 48, 32, 3, rgb.data(), 90), 0);
  ASSERT_NE(stbi_write_bmp((dir / "scan.bmp").c_str(), 48, 32, 3, rgb.data()), 0);
  ASSERT_NE(stbi_write_tga((dir / "scan.tga").c_str(), 48, 32, 1, gray.data()), 0);
  test::write_bytes(dir / "scan.pgm", pgm_bytes(48, 32, gray), false);
  test::write_bytes(dir / "scan.gif", gif_bytes(48, 32, gray), false);
  for (const char* name :
       {"photo.png", "photo.jpg", "scan.bmp", "scan.tga", "scan.pgm", "scan.gif"}) {
    expect_mnist_like(load_user_image(dir / name, Invert::kAuto), name);
  }
  EXPECT_TRUE(torch::equal(load_user_image(dir / "photo.png", Invert::kAuto),
                           load_user_image(dir / "photo.jpg", Invert::kAuto)));

  // Formats stb_image does not read, or that sae does not let it read, by their content.
  const auto says = [&](const std::string& name, const std::vector<uint8_t>& bytes,
                        const std::string& message) {
    test::write_bytes(dir / name, bytes, false);
    EXPECT_EQ(refusal(dir / name), dir / name + ": " + message);
  };
  says("nothing.png", {}, "an empty file; expected an image");
  says("photo.webp", {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '},
       "a WebP, which sae does not decode (stb_image reads no WebP); convert it to PNG");
  says("scan.tif", {'M', 'M', 0, '*', 0, 0, 0, 8},
       "a TIFF, which sae does not decode (stb_image reads no TIFF); convert it to PNG");
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n";
  says("sky.hdr", {hdr.begin(), hdr.end()},
       "a Radiance HDR image, which sae does not decode (its decoder can hang on a damaged "
       "file, and a digit needs no floating-point pixels); convert it to PNG");
  says("text.pgm", {'P', '2', '\n', '1', ' ', '1', '\n', '9', '\n', '0', '\n'},
       "a text or 1-bit PNM (P2), which sae does not decode; save it as a binary PGM or PPM "
       "(P5, P6), or as PNG");
}

// stb_image decodes a cut BMP, TGA or PGM with zeros for the missing part, and reports success;
// the reads past the file's end tell.
TEST(UserImages, ATruncatedImageOfAnyFormatIsRefused) {
  test::TempDir dir;
  const auto rgb = paper_with_stroke(40, 30, 3);
  const auto gray = paper_with_stroke(40, 30, 1);
  ASSERT_NE(stbi_write_jpg((dir / "a.jpg").c_str(), 40, 30, 3, rgb.data(), 90), 0);
  ASSERT_NE(stbi_write_bmp((dir / "a.bmp").c_str(), 40, 30, 3, rgb.data()), 0);
  stbi_write_tga_with_rle = 0;
  ASSERT_NE(stbi_write_tga((dir / "a.tga").c_str(), 40, 30, 1, gray.data()), 0);
  stbi_write_tga_with_rle = 1;
  test::write_bytes(dir / "a.pgm", pgm_bytes(40, 30, gray), false);
  test::write_bytes(dir / "a.gif", gif_bytes(40, 30, gray), false);
  for (const auto& [name, kind] :
       std::vector<std::pair<std::string, std::string>>{{"a.jpg", "JPEG"},
                                                        {"a.bmp", "BMP"},
                                                        {"a.tga", "TGA"},
                                                        {"a.pgm", "PNM"},
                                                        {"a.gif", "GIF"}}) {
    const std::vector<uint8_t> whole = file_bytes(dir / name);
    EXPECT_EQ(refusal(dir / name), "") << name;
    for (const size_t keep : {whole.size() - 2, whole.size() / 2}) {
      const std::string cut = dir / ("cut-" + std::to_string(keep) + "-" + name);
      test::write_bytes(cut, std::vector<uint8_t>(whole.begin(), whole.begin() + keep), false);
      const std::string message = refusal(cut);
      EXPECT_EQ(message.rfind(cut + ": cannot decode it: a ", 0), 0u) << message;
      EXPECT_NE(message.find("truncated " + kind), std::string::npos) << message;
    }
  }
  // A GIF's trailer (the byte after its last block) is not needed to decode it.
  const std::vector<uint8_t> gif = file_bytes(dir / "a.gif");
  test::write_bytes(dir / "no-trailer.gif", std::vector<uint8_t>(gif.begin(), gif.end() - 1),
                    false);
  EXPECT_EQ(refusal(dir / "no-trailer.gif"), "");

  // Beyond the size bound, from the header alone.
  const std::vector<uint8_t> wide(9000 * 3, 200);
  ASSERT_NE(stbi_write_jpg((dir / "wide.jpg").c_str(), 9000, 1, 3, wide.data(), 90), 0);
  EXPECT_EQ(refusal(dir / "wide.jpg"),
            dir / "wide.jpg" + ": 9000x1 pixels; expected 1 to 8192 on each side: scale it down");
}

// The cause of "no SOI": stb_image's zlib returns NULL without a reason when malloc fails, and the
// message was then what an earlier stbi_info's JPEG probe had left. Here a child process runs out
// of address space for real, after such a probe.
TEST(UserImages, RunningOutOfMemoryWhileDecodingSaysSo) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer's shadow memory does not live within RLIMIT_AS";
#endif
  test::TempDir dir;
  const std::string big = dir / "big.png";
  // 128 MiB of samples, a few hundred KiB on disk. Above glibc's largest mmap threshold (32 MiB),
  // so no free heap left by earlier tests in this process can serve it under the limit.
  write_flat_rgba16(big, 4096, 4096);
  test::write_bytes(dir / "note.txt", {'h', 'i'}, false);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int w = 0, h = 0, c = 0;
    stbi_info((dir / "note.txt").c_str(), &w, &h, &c);  // leaves "no SOI" behind
    long pages = 0;
    FILE* statm = std::fopen("/proc/self/statm", "r");
    if (statm == nullptr || std::fscanf(statm, "%ld", &pages) != 1) ::_exit(2);
    std::fclose(statm);
    // 8 MiB more than the child has mapped: far less than decoding needs.
    const rlim_t limit = static_cast<rlim_t>(pages) * ::sysconf(_SC_PAGESIZE) + (8 << 20);
    const rlimit bound{limit, limit};
    if (::setrlimit(RLIMIT_AS, &bound) != 0) ::_exit(3);
    const std::string message = refusal(big);
    const bool written =
        ::write(fds[1], message.data(), message.size()) == static_cast<ssize_t>(message.size());
    ::_exit(written ? 0 : 4);
  }
  ASSERT_GT(pid, 0);
  ::close(fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) message.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(message, big +
                         ": out of memory decoding it (4096x4096 RGBA 16-bit, 128.0 MiB of "
                         "samples): free memory or scale it down");
}

TEST(UserImages, ADecompressionBombIsRefusedBeforeDecoding) {
  // A 1x1 gray PNG whose IDAT inflates to 64 MiB of zeros (64 KiB on disk): every header limit
  // holds, yet stb_image would grow its buffer to the stream's size. Refused by counting alone.
  test::TempDir dir;
  std::vector<uint8_t> bytes = png_header(1, 1);
  const std::vector<uint8_t> zeros(64u << 20, 0);
  uLongf packed_size = compressBound(zeros.size());
  std::vector<uint8_t> packed(packed_size);
  ASSERT_EQ(compress2(packed.data(), &packed_size, zeros.data(), zeros.size(), 9), Z_OK);
  packed.resize(packed_size);
  append_chunk(bytes, "IDAT", packed);
  append_chunk(bytes, "IEND", {});
  test::write_bytes(dir / "bomb.png", bytes, false);
  const std::string error = refusal(dir / "bomb.png");
  EXPECT_NE(error.find("bomb.png: its image data inflates to more than"), std::string::npos)
      << error;
  EXPECT_NE(error.find("where a 1x1 gray 8-bit image needs at most"), std::string::npos) << error;
  // A real PNG of the same kind still reads.
  stbi_write_png((dir / "one.png").c_str(), 1, 1, 1, zeros.data(), 1);
  EXPECT_NE(refusal(dir / "one.png").find("blank"), std::string::npos);
}

// stb_image checks no CRC: it decodes a PNG with a flipped byte in its comment, or in stored image
// data, as if nothing were wrong. libpng reads the file whole first, through the binary too.
TEST(UserImages, AFlippedByteOrACutIsRefusedBeforeDecoding) {
  test::TempDir dir;
  const auto pixels = paper_with_stroke(40, 40, 1);
  const std::vector<uint8_t> png = commented_gray_png(40, 40, pixels);
  test::write_bytes(dir / "good.png", png, false);
  expect_mnist_like(load_user_image(dir / "good.png", Invert::kAuto), dir / "good.png");
  const auto stb_decodes = [](const std::vector<uint8_t>& bytes) {
    int w = 0, h = 0, c = 0;
    stbi_uc* decoded =
        stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 1);
    stbi_image_free(decoded);
    return decoded != nullptr;
  };
  const std::string kFix = "); save it again as PNG";

  std::vector<uint8_t> comment = png;
  comment[chunk_data_at(png, "tEXt") + 2] ^= 0x01;  // "Comment" becomes "Cobment"
  EXPECT_TRUE(stb_decodes(comment));
  test::write_bytes(dir / "comment.png", comment, false);
  EXPECT_EQ(refusal(dir / "comment.png"),
            dir / "comment.png" +
                ": cannot decode it: a corrupt or truncated PNG (libpng: tEXt: CRC error" + kFix);

  std::vector<uint8_t> pixel = png;
  ASSERT_LT(chunk_data_at(png, "IDAT") + 200, png.size());
  pixel[chunk_data_at(png, "IDAT") + 200] ^= 0x80;  // a pixel's top bit, past the block headers
  EXPECT_TRUE(stb_decodes(pixel));
  test::write_bytes(dir / "pixel.png", pixel, false);
  // zlib's own checksum over the stream's end fails before libpng reaches the chunk's CRC.
  EXPECT_EQ(refusal(dir / "pixel.png"),
            dir / "pixel.png" +
                ": cannot decode it: a corrupt or truncated PNG (libpng: IDAT: incorrect data "
                "check" +
                kFix);

  const std::vector<uint8_t> cut(png.begin(), png.end() - 12);  // no IEND
  test::write_bytes(dir / "cut.png", cut, false);
  EXPECT_EQ(refusal(dir / "cut.png"),
            dir / "cut.png" + ": cannot decode it: a corrupt or truncated PNG (libpng: the file " +
                "ends after " + std::to_string(cut.size()) + " bytes" + kFix);

  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  const auto r = test::run_sae({"encode", "--checkpoint", run, "--images", dir / "good.png",
                                dir / "comment.png", "--out", dir / "out"});
  test::expect_clean_failure(
      r, "comment.png: cannot decode it: a corrupt or truncated PNG (libpng: tEXt: CRC error)");
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

TEST(UserImages, SymlinkLoopsAndFifosAreNamedAndNeverBlock) {
  test::TempDir dir;
  ASSERT_EQ(::symlink("ring2.png", (dir / "ring1.png").c_str()), 0);
  ASSERT_EQ(::symlink("ring1.png", (dir / "ring2.png").c_str()), 0);
  ASSERT_EQ(::symlink("gone.png", (dir / "dangling.png").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir / "pipe.png").c_str(), 0600), 0);
  const std::string loop = dir / "ring1.png", fifo = dir / "pipe.png";
  const auto expands_to = [](const std::string& path) {
    try {
      expand_image_paths({path});
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };

  // Should a read block on the FIFO, a writer that comes and goes wakes it, so that the test
  // fails on its time instead of hanging.
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 100 && !done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (done) return;
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  });
  const auto start = std::chrono::steady_clock::now();
  const std::string as_file = refusal(fifo), as_path = expands_to(fifo);
  const auto in_folder = [&] {
    test::TempDir folder;
    const auto pixels = paper_with_stroke(30, 30, 1);
    EXPECT_NE(stbi_write_png((folder / "a.png").c_str(), 30, 30, 1, pixels.data(), 30), 0);
    EXPECT_EQ(::mkfifo((folder / "b.png").c_str(), 0600), 0);
    return std::make_pair(folder / "b.png", expands_to(folder.path().string()));
  }();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  watchdog.join();
  EXPECT_LT(seconds, 2.0) << "reading a FIFO blocked";
  const std::string kFifo = ": not a regular file (a FIFO); expected an image file";
  EXPECT_EQ(as_file, fifo + kFifo);
  EXPECT_EQ(as_path, fifo + kFifo);
  EXPECT_EQ(in_folder.second, in_folder.first + kFifo);

  const std::string kLoop =
      ": a symlink loop (its links never reach a file); point it at an image file";
  EXPECT_EQ(refusal(loop), loop + kLoop);
  EXPECT_EQ(expands_to(loop), loop + kLoop);
  EXPECT_EQ(expands_to(dir / "dangling.png"),
            dir / "dangling.png" +
                ": a dangling symlink (to gone.png): no such file; point it at an image file");

  // Through the binary, each in one line; the FIFO run gets a deadline instead of a hang.
  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  test::expect_clean_failure(
      test::run_sae({"encode", "--checkpoint", run, "--images", loop, "--out", dir / "out"}),
      "ring1.png: a symlink loop");
  const pid_t pid = test::spawn_sae(
      {"encode", "--checkpoint", run, "--images", fifo, "--out", dir / "out"}, dir / "err");
  ASSERT_GT(pid, 0);
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 600 && (waited = ::waitpid(pid, &status, WNOHANG)) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (waited == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "sae encode --images FIFO still ran after 60 s";
  }
  test::RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = test::read_text(dir / "err");
  test::expect_clean_failure(r, "pipe.png: not a regular file (a FIFO)");
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

TEST(UserImages, FilesTxtEscapesEachNameToOneLine) {
  test::TempDir dir;
  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  const auto pixels = paper_with_stroke(40, 40, 1);
  const std::vector<std::string> names = {"two\nlines.png", "back\\slash.png", "tab\tand\rcr.png"};
  std::vector<std::string> args = {"encode",      "--checkpoint", run,       "--out",
                                   dir / "codes", "--quiet",      "--images"};
  for (const std::string& name : names) {
    ASSERT_NE(stbi_write_png((dir / name).c_str(), 40, 40, 1, pixels.data(), 40), 0) << name;
    args.push_back(dir / name);
  }
  const auto r = test::run_sae(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string list = test::read_text(dir / "codes/files.txt");
  EXPECT_EQ(list, dir / "two\\nlines.png\n" + dir / "back\\\\slash.png\n" +
                      dir / "tab\\x09and\\x0dcr.png\n");
  EXPECT_EQ(std::count(list.begin(), list.end(), '\n'), 3) << list;
}

// load_user_images decodes on several threads; what it tells of bad files must not depend on
// which thread met one first.
TEST(UserImages, TheFirstBadFileInOrderIsTheOneTold) {
  test::TempDir dir;
  const auto pixels = paper_with_stroke(30, 30, 1);
  std::vector<std::string> files;
  for (int i = 0; i < 40; ++i) {
    files.push_back(dir / (std::to_string(100 + i) + ".png"));
    ASSERT_NE(stbi_write_png(files.back().c_str(), 30, 30, 1, pixels.data(), 30), 0);
  }
  test::write_bytes(files[25], {'b', 'a', 'd'}, false);
  test::write_bytes(files[33], {}, false);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(4);
  for (int round = 0; round < 3; ++round) {
    try {
      load_user_images(files, Invert::kAuto);
      ADD_FAILURE() << "bad files were taken";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(files[25] + ": not an image sae reads", 0), 0u)
          << e.what();
    }
  }
  files.erase(files.begin() + 25);
  files.erase(files.begin() + 32);  // the empty one, one place earlier now
  const Dataset data = load_user_images(files, Invert::kAuto);
  torch::set_num_threads(threads);
  ASSERT_EQ(data.size(), 38);
  for (int64_t i = 1; i < data.size(); ++i)
    EXPECT_TRUE(torch::equal(data.images[i], data.images[0]));
}

TEST(UserImages, AFolderGivenToEncodeTakesItsJpegsAndCountsWhatItSkips) {
  test::TempDir dir;
  const std::string run = test::shared_run(
      {"--epochs", "1", "--data-dir", test::shared_data(300, 100), "--threads", "1"});
  const auto pixels = paper_with_stroke(40, 40, 1);
  std::filesystem::create_directory(dir / "mine");
  ASSERT_NE(stbi_write_png((dir / "mine/a.png").c_str(), 40, 40, 1, pixels.data(), 40), 0);
  ASSERT_NE(stbi_write_jpg((dir / "mine/b.jpg").c_str(), 40, 40, 1, pixels.data(), 95), 0);
  test::write_bytes(dir / "mine/notes.txt", {'h', 'i'}, false);
  const auto r = test::run_sae(
      {"encode", "--checkpoint", run, "--images", dir / "mine", "--out", dir / "codes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_text(dir / "codes/files.txt"), dir / "mine/a.png\n" + dir / "mine/b.jpg\n");
  EXPECT_NE(r.err.find(dir / "mine" + ": skipped 1 entry not named as an image (notes.txt)"),
            std::string::npos)
      << r.err;
}

// Training takes an ImageFolder and NumPy arrays through the same --data-dir.
TEST(UserImages, TrainReadsAnImageFolderAndNumpyArrays) {
  test::TempDir dir;
  const auto pixels = paper_with_stroke(40, 40, 1);
  for (const char* split : {"train", "test"}) {
    for (const char* kind : {"ell", "other"}) {
      const auto folder = dir.path() / "pictures" / split / kind;
      std::filesystem::create_directories(folder);
      for (int i = 0; i < 12; ++i) {
        auto drawn = pixels;
        if (std::string(kind) == "other") std::reverse(drawn.begin(), drawn.end());
        const std::string path =
            (folder / (std::to_string(i) + (i % 2 ? ".png" : ".jpg"))).string();
        const int written = i % 2 ? stbi_write_png(path.c_str(), 40, 40, 1, drawn.data(), 40)
                                  : stbi_write_jpg(path.c_str(), 40, 40, 1, drawn.data(), 95);
        ASSERT_NE(written, 0) << path;
      }
    }
  }
  const auto pictures =
      test::run_sae({"train", "--data-dir", dir / "pictures", "--out", dir / "run-pictures",
                     "--epochs", "1", "--threads", "1", "--batch-size", "8"});
  ASSERT_EQ(pictures.exit_code, 0) << pictures.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "run-pictures/summary.json"));

  std::filesystem::create_directory(dir / "arrays");
  const auto images = [](int64_t n) {
    return torch::rand({n, 28, 28}).mul(0.2).add_(torch::eye(28).mul(0.8));  // float in [0, 1]
  };
  std::ofstream(dir / "arrays/train-images.npy", std::ios::binary) << npy_bytes(images(24));
  std::ofstream(dir / "arrays/test-images.npy", std::ios::binary) << npy_bytes(images(8));
  const auto arrays =
      test::run_sae({"train", "--data-dir", dir / "arrays", "--out", dir / "run-arrays", "--epochs",
                     "1", "--threads", "1", "--batch-size", "8"});
  ASSERT_EQ(arrays.exit_code, 0) << arrays.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "run-arrays/summary.json"));
}

}  // namespace
}  // namespace sae
