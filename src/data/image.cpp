#include "sae/data/image.hpp"

#include <png.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "sae/base/atomic_file.hpp"
#include "sae/data/image_size.hpp"

namespace sae {
namespace {

// libpng's simplified API keeps its setjmp/longjmp inside libpng, so no C++ object here can be
// skipped by a longjmp; failures come back as a return value plus `message`.
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("PNG " + path + ": " + what);
}

bool well_formed(const GrayImage& image) {
  return image.width > 0 && image.height > 0 &&
         image.pixels.size() == static_cast<std::size_t>(image.width) * image.height;
}

}  // namespace

void write_png(const std::string& path, const GrayImage& image) {
  if (!well_formed(image)) {
    fail(path, "bad image " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                   " with " + std::to_string(image.pixels.size()) + " pixels");
  }
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_GRAY;
  // Into memory, then through the checked atomic writer: a full disk fails there, cleanly.
  png_alloc_size_t size = 0;
  if (png_image_write_get_memory_size(png, size, 0, image.pixels.data(), 0, nullptr)) {
    std::string bytes(size, '\0');
    if (png_image_write_to_memory(&png, bytes.data(), &size, 0, image.pixels.data(), 0, nullptr)) {
      bytes.resize(size);
      write_file_atomically(path, bytes);
      return;
    }
  }
  const std::string message = png.message;
  png_image_free(&png);
  fail(path, "cannot encode: " + message);
}

GrayImage tile_grid(const std::vector<GrayImage>& tiles, int columns, int padding, int scale,
                    std::uint8_t background) {
  if (tiles.empty()) throw std::runtime_error("tile_grid: no tiles");
  if (columns < 1 || padding < 0 || scale < 1) {
    throw std::runtime_error("tile_grid: need columns >= 1, padding >= 0, scale >= 1");
  }
  const int tile_w = tiles.front().width;
  const int tile_h = tiles.front().height;
  for (const GrayImage& tile : tiles) {
    if (!well_formed(tile) || tile.width != tile_w || tile.height != tile_h) {
      throw std::runtime_error("tile_grid: tiles must be well-formed and all " +
                               std::to_string(tile_w) + "x" + std::to_string(tile_h));
    }
  }

  const long long rows = (static_cast<long long>(tiles.size()) + columns - 1) / columns;
  const long long cell_w = static_cast<long long>(tile_w) * scale;
  const long long cell_h = static_cast<long long>(tile_h) * scale;
  const long long width = padding + columns * (cell_w + padding);
  const long long height = padding + rows * (cell_h + padding);
  if (width > INT_MAX || height > INT_MAX || width * height > INT_MAX) {
    throw std::runtime_error("tile_grid: grid too large");
  }

  GrayImage grid;
  grid.width = static_cast<int>(width);
  grid.height = static_cast<int>(height);
  grid.pixels.assign(static_cast<std::size_t>(width * height), background);
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const long long left = padding + static_cast<long long>(i % columns) * (cell_w + padding);
    const long long top = padding + static_cast<long long>(i / columns) * (cell_h + padding);
    for (long long y = 0; y < cell_h; ++y) {
      const std::uint8_t* src = &tiles[i].pixels[(y / scale) * tile_w];
      std::uint8_t* dst = &grid.pixels[(top + y) * width + left];
      for (long long x = 0; x < cell_w; ++x) dst[x] = src[x / scale];
    }
  }
  return grid;
}

GrayImage to_gray_image(const torch::Tensor& image) {
  auto bytes = image.detach().to(torch::kCPU).reshape({kImageSide, kImageSide});
  if (bytes.dtype() != torch::kUInt8)
    bytes = bytes.mul(255.0).round().clamp(0, 255).to(torch::kUInt8);
  bytes = bytes.contiguous();
  GrayImage out{kImageSide, kImageSide, {}};
  out.pixels.assign(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
  return out;
}

}  // namespace sae
