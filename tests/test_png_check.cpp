// PNG files read by libpng before they are trusted: good ones pass with their header, a flipped
// byte or a cut anywhere is refused with a reason, and the image data's inflated size is counted.

#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include "sae/data/png_check.hpp"
#include "test_util.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace sae {
namespace {

const std::string kSignature("\x89PNG\r\n\x1a\n", 8);

/// The PNG chunk `type` holding `data`, its CRC included.
std::string chunk(const std::string& type, const std::string& data) {
  std::string out;
  const auto be32 = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift);
  };
  be32(static_cast<uint32_t>(data.size()));
  out += type + data;
  be32(static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(out.data() + 4), 4 + data.size())));
  return out;
}

/// An IHDR chunk of `width` x `height` at `depth` bits of colour type `color`.
std::string ihdr(uint32_t width, uint32_t height, int depth = 8, int color = 0) {
  std::string data;
  for (const uint32_t side : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) data += static_cast<char>(side >> shift);
  }
  data += {static_cast<char>(depth), static_cast<char>(color), 0, 0, 0};
  return chunk("IHDR", data);
}

/// A PNG written by libpng: `width` x `height`, `depth` bits of colour type `color`, `interlace`
/// (PNG_INTERLACE_*), rows of a ramp, and a tEXt comment before the image data.
std::string libpng_png(int width, int height, int depth, int color, int interlace) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const auto append = [](png_structp p, png_bytep data, size_t n) {
    static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<char*>(data), n);
  };
  png_set_write_fn(png, &out, append, nullptr);
  png_set_IHDR(png, info, width, height, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_color palette[4] = {{0, 0, 0}, {90, 90, 90}, {180, 180, 180}, {255, 255, 255}};
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, palette, 4);
  png_text comment{};
  comment.compression = PNG_TEXT_COMPRESSION_NONE;
  comment.key = const_cast<char*>("Comment");
  comment.text = const_cast<char*>("a ramp");
  png_set_text(png, info, &comment, 1);
  png_write_info(png, info);
  const int passes = png_set_interlace_handling(png);
  std::vector<png_byte> row(png_get_rowbytes(png, info));
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < height; ++y) {
      for (size_t i = 0; i < row.size(); ++i) {
        // Palette indices stay below 4: 2-bit samples are four to a byte.
        row[i] = static_cast<png_byte>(color == PNG_COLOR_TYPE_PALETTE ? 0x1b : 7 * i + y);
      }
      png_write_row(png, row.data());
    }
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

/// What check_png refuses `bytes` with (nullptr when it passes them).
std::unique_ptr<PngError> refusal(const std::string& bytes) {
  try {
    check_png(bytes, "x.png");
  } catch (const PngError& e) {
    return std::make_unique<PngError>(e);
  }
  return nullptr;
}

/// `bytes` written to a file in `dir`, open for reading.
std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_of(const test::TempDir& dir,
                                                        const std::string& bytes) {
  test::write_bytes(dir / "f.png", std::vector<uint8_t>(bytes.begin(), bytes.end()), false);
  return {std::fopen((dir / "f.png").c_str(), "rb"), std::fclose};
}

TEST(PngCheck, GoodPngsPassWithTheirHeader) {
  struct Kind {
    int depth, color, interlace;
    const char* text;
  };
  for (const Kind& k :
       {Kind{8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, "40x30 gray 8-bit"},
        Kind{16, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_ADAM7, "40x30 RGBA 16-bit"},
        Kind{2, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, "40x30 palette 2-bit"}}) {
    const std::string png = libpng_png(40, 30, k.depth, k.color, k.interlace);
    const CheckedPng checked = check_png(png, "x.png");
    EXPECT_EQ(checked.header.text(), k.text);
    EXPECT_EQ(checked.header.interlace, k.interlace) << k.text;
    EXPECT_EQ(checked.size, png.size()) << k.text;
    // Nothing after IEND is read, nor refused: the caller decides.
    EXPECT_EQ(check_png(png + "junk", "x.png").size, png.size()) << k.text;
  }
  const PngHeader rgba{40, 30, 16, PNG_COLOR_TYPE_RGBA};
  EXPECT_EQ(rgba.channels(), 4);
  EXPECT_EQ(rgba.sample_bytes(), 40u * 30 * 4 * 2);

  test::TempDir dir;
  const auto file = file_of(dir, libpng_png(40, 30, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE));
  EXPECT_EQ(check_png(file.get(), dir / "f.png").header.text(), "40x30 gray 8-bit");
  EXPECT_EQ(read_png_header(file.get(), dir / "f.png").text(), "40x30 gray 8-bit");
}

TEST(PngCheck, EveryFlippedByteIsRefused) {
  const std::string png = libpng_png(40, 30, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE);
  for (size_t at = 0; at < png.size(); ++at) {
    for (const int bits : {0x01, 0x80, 0xff}) {
      std::string flipped = png;
      flipped[at] = static_cast<char>(flipped[at] ^ bits);
      const auto error = refusal(flipped);
      ASSERT_TRUE(error) << "byte " << at << " ^ " << bits << " passed";
      EXPECT_EQ(std::string(error->what()).rfind("x.png: a corrupt or truncated PNG (", 0), 0u)
          << error->what();
    }
  }
  // Where the CRCs catch it: in the header, in an ancillary chunk, and in the image data's CRC.
  const auto flip_at = [&](size_t at) {
    std::string flipped = png;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    return refusal(flipped);
  };
  const auto header = flip_at(8 + 8 + 2);  // the width's third byte
  EXPECT_EQ(header->reason(), "IHDR: CRC error");
  EXPECT_EQ(header->fault(), PngFault::kNoHeader);
  const auto comment = flip_at(png.find("tEXt") + 4);
  EXPECT_EQ(comment->reason(), "tEXt: CRC error");
  EXPECT_EQ(comment->fault(), PngFault::kCorrupt);
  EXPECT_EQ(comment->header().text(), "40x30 gray 8-bit");
  EXPECT_EQ(flip_at(png.find("IEND") - 4 - 1)->reason(), "IDAT: CRC error");  // its CRC's end
  EXPECT_EQ(std::string(flip_at(png.size() - 1)->what()),
            "x.png: a corrupt or truncated PNG (IEND: CRC error)");
}

TEST(PngCheck, EveryCutIsRefusedWithWhereTheFileEnds) {
  const std::string png = libpng_png(40, 30, 16, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_ADAM7);
  for (size_t size = 0; size < png.size(); ++size) {
    const auto error = refusal(png.substr(0, size));
    ASSERT_TRUE(error) << size << " bytes passed";
    EXPECT_EQ(error->reason(), "the file ends after " + std::to_string(size) + " bytes");
    EXPECT_EQ(error->fault(), size < 33 ? PngFault::kNoHeader : PngFault::kCorrupt) << size;
  }
}

TEST(PngCheck, TheHeaderAloneIsReadAndNothingAfterIt) {
  // Any size passes libpng; sae's callers judge it.
  const std::string header_only = kSignature + ihdr(100000, 100000);
  test::TempDir dir;
  const auto file = file_of(dir, header_only);
  const PngHeader h = read_png_header(file.get(), "h.png");
  EXPECT_EQ(h.text(), "100000x100000 gray 8-bit");
  EXPECT_EQ(h.sample_bytes(), uint64_t{100000} * 100000);
  try {
    check_png(file.get(), "h.png");
    ADD_FAILURE() << "a header alone passed";
  } catch (const PngError& e) {
    EXPECT_EQ(e.reason(), "the file ends after 33 bytes");
    EXPECT_EQ(e.fault(), PngFault::kCorrupt);
  }
}

TEST(PngCheck, ForbiddenHeaderValuesAreRefusedAndKeptForTheMessage) {
  const auto zero = refusal(kSignature + ihdr(0, 0) + chunk("IEND", ""));
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->fault(), PngFault::kInvalidHeader);
  EXPECT_EQ(zero->header().width, 0u);
  EXPECT_EQ(zero->header().bit_depth, 8);
  const auto palette16 = refusal(kSignature + ihdr(5, 5, 16, PNG_COLOR_TYPE_PALETTE));
  ASSERT_TRUE(palette16);
  EXPECT_EQ(palette16->fault(), PngFault::kInvalidHeader);
  EXPECT_EQ(palette16->header().width, 5u);
  EXPECT_EQ(palette16->header().bit_depth, 16);
  EXPECT_EQ(palette16->header().color_type, PNG_COLOR_TYPE_PALETTE);
}

TEST(PngCheck, WhatDoesNotStartAsAPngHasNoHeader) {
  const std::string iend = chunk("IEND", "");
  const std::string good = libpng_png(4, 4, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "the file ends after 0 bytes"},
      {"GIF89a" + iend, "Not a PNG file"},
      {kSignature + iend, "IEND: out of place"},
      {kSignature + chunk("abCD", "") + good.substr(8), "the first chunk is not IHDR"},
  };
  for (const auto& [bytes, reason] : cases) {
    const auto error = refusal(bytes);
    ASSERT_TRUE(error) << reason;
    EXPECT_EQ(error->reason(), reason);
    EXPECT_EQ(error->fault(), PngFault::kNoHeader) << reason;
  }
}

TEST(PngCheck, InflatedImageBytesStopJustPastTheLimit) {
  test::TempDir dir;
  const std::string zeros(4u << 20, '\0');
  uLongf packed_size = compressBound(zeros.size());
  std::string packed(packed_size, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                      reinterpret_cast<const Bytef*>(zeros.data()), zeros.size(), 9),
            Z_OK);
  packed.resize(packed_size);
  // Split over two IDATs, after an ancillary chunk the count skips.
  const std::string bomb = kSignature + ihdr(1, 1) + chunk("tEXt", std::string("k\0v", 3)) +
                           chunk("IDAT", packed.substr(0, 100)) +
                           chunk("IDAT", packed.substr(100)) + chunk("IEND", "");
  const auto file = file_of(dir, bomb);
  EXPECT_EQ(inflated_image_bytes(file.get(), 8u << 20), 4u << 20);
  const uint64_t stopped = inflated_image_bytes(file.get(), 1u << 20);
  EXPECT_GT(stopped, 1u << 20);
  EXPECT_LT(stopped, 2u << 20);
  // A real image inflates to a filter byte and a row per row.
  const auto real = file_of(dir, libpng_png(40, 30, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE));
  EXPECT_EQ(inflated_image_bytes(real.get(), 1u << 20), 30u * (40 + 1));
}

}  // namespace
}  // namespace sae
