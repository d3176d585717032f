#include <gtest/gtest.h>

#include "sae/image.hpp"
#include "sae/plot.hpp"
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
  const GrayImage back = read_png(dir / "a.png");
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

TEST(Plot, WritesAPng) {
  test::TempDir dir;
  plot_lines(dir / "loss.png", "loss", "epoch", "loss",
             {{"train", {1, 2, 3}, {0.3, 0.2, 0.1}}, {"test", {1, 2, 3}, {0.35, 0.25, 0.2}}});
  EXPECT_EQ(png_signature(dir / "loss.png"), "\x89PNG\r\n\x1a\n");
  // A single epoch still makes a plot.
  plot_lines(dir / "one.png", "loss", "epoch", "loss", {{"train", {1}, {0.3}}});
  EXPECT_EQ(png_signature(dir / "one.png"), "\x89PNG\r\n\x1a\n");
  EXPECT_THROW(plot_lines(dir / "none.png", "t", "x", "y", {}), std::runtime_error);
}

TEST(Plot, LabelledPointsOnALogAxisWithAFloor) {
  test::TempDir dir;
  // Zero and negative x sit at the floor instead of breaking the log axis.
  plot_labelled_points(dir / "sweep.png", "t", "mean L0", "mse",
                       {{0.0, 0.02, "a"}, {0.5, 0.015, "b"}, {64, 0.07, "c"}, {-1, 0.01, "d"}},
                       /*log_x_floor=*/1e-3);
  EXPECT_EQ(png_signature(dir / "sweep.png"), "\x89PNG\r\n\x1a\n");
  EXPECT_THROW(plot_labelled_points(dir / "none.png", "t", "x", "y", {}), std::runtime_error);
}

}  // namespace
}  // namespace sae
