#include <gtest/gtest.h>

#include "sae/data/image.hpp"
#include "test_util.hpp"

#include <fstream>

namespace sae {
namespace {

std::string png_signature(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string sig(8, '\0');
  in.read(sig.data(), 8);
  return sig;
}

TEST(Image, PngRoundTripIsExact) {
  test::TempDir dir;
  GrayImage image{5, 3, {}};
  for (int i = 0; i < 15; ++i) image.pixels.push_back(static_cast<uint8_t>(i * 17));
  write_png(dir / "a.png", image);
  EXPECT_EQ(png_signature(dir / "a.png"), "\x89PNG\r\n\x1a\n");
  const GrayImage back = test::read_gray_png(dir / "a.png");
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.pixels, image.pixels);
}

TEST(Image, TileGridPlacesScaledTilesWithPadding) {
  const GrayImage black{2, 2, {0, 0, 0, 0}};
  const GrayImage white{2, 2, {255, 255, 255, 255}};
  const GrayImage grid = tile_grid({black, white, white}, /*columns=*/2, /*padding=*/1,
                                   /*scale=*/2, /*background=*/128);
  // 2 columns x 2 rows of 4 px tiles, 1 px of padding around and between.
  ASSERT_EQ(grid.width, 2 * 4 + 3);
  ASSERT_EQ(grid.height, 2 * 4 + 3);
  auto at = [&](int x, int y) { return grid.pixels[y * grid.width + x]; };
  EXPECT_EQ(at(0, 0), 128);  // border
  EXPECT_EQ(at(1, 1), 0);    // first tile
  EXPECT_EQ(at(4, 4), 0);
  EXPECT_EQ(at(6, 1), 255);  // second tile
  EXPECT_EQ(at(1, 6), 255);  // third tile, second row
  EXPECT_EQ(at(6, 6), 128);  // no fourth tile
}

}  // namespace
}  // namespace sae
