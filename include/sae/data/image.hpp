#pragma once
// 8-bit gray pictures: from tensors, laid out on grids, to and from PNG.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sae {

/// A grayscale 8-bit image, row-major.
struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // height * width
};

/// Writes `image` as an 8-bit grayscale PNG (libpng), atomically: a temporary file in the same
/// folder, renamed into place.
void write_png(const std::string& path, const GrayImage& image);

/// Lays out `tiles` (all the same size) on a grid of `columns` columns, with `padding` pixels of
/// `background` between tiles and around the border; `scale` >= 1 enlarges each pixel to scale x
/// scale (nearest neighbour) so 28x28 digits are readable.
GrayImage tile_grid(const std::vector<GrayImage>& tiles, int columns, int padding = 2,
                    int scale = 1, std::uint8_t background = 128);

/// Converts one image (28, 28) or (1, 28, 28), uint8 or float in [0, 1], to 8-bit gray.
GrayImage to_gray_image(const torch::Tensor& image);

}  // namespace sae
