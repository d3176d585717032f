#include "sae/plot/image_grid.hpp"

#include <plplot.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "sae/plot/layout.hpp"

namespace sae {
namespace {

using plot_layout::escape;
using plot_layout::text_length;

// Pixels: around the picture, between tiles, between groups of columns, a tile's gray frame.
constexpr int kMargin = 10, kGap = 6, kGroupGap = 20, kFrame = 1;
// Text: font sizes and the lines that hold them, in pixels.
constexpr double kTitlePx = 17, kSubtitlePx = 13, kLabelPx = 13, kCaptionPx = 12, kMinTextPx = 7;
constexpr int kTitleLine = 28, kSubtitleLine = 20, kTitleGap = 6, kLabelGap = 6, kCaptionLine = 17;
// A character's width in ems, as DejaVu Sans draws digits and lower-case letters, for fitting.
constexpr double kCharWidth = 0.6;
// Pango draws PLplot's text at 96 dpi: a font of `px` pixels is a character height in mm of
// px * 25.4 / 96.
constexpr double kMillimetresPerPixel = 25.4 / 96.0;
// The page: white, black text, a dark gray for the subtitle; the frame around each tile.
constexpr PLINT kRed[] = {255, 0, 90}, kGreen[] = {255, 0, 90}, kBlue[] = {255, 0, 90};
constexpr PLINT kInk = 1, kSubtitleInk = 2;
constexpr std::uint8_t kPage = 255, kFrameGray = 170;

// The size, in pixels, of a font for `text` in `room` pixels: `px`, or smaller where it is long.
double fitting_px(const std::string& text, double room, double px) {
  const std::size_t chars = text_length(text);
  if (chars == 0) return px;
  return std::max(kMinTextPx, std::min(px, room / (kCharWidth * static_cast<double>(chars))));
}

// The rows of `grid` and the groups of each row.
int row_count(const TileGrid& grid) {
  return static_cast<int>((grid.tiles.size() + grid.columns - 1) / grid.columns);
}
int group_size(const TileGrid& grid) {
  return grid.group > 0 ? std::min(grid.group, grid.columns) : grid.columns;
}
int group_count(const TileGrid& grid) {
  return (grid.columns + group_size(grid) - 1) / group_size(grid);
}

// A fresh PLplot stream drawing into `rgb` (height x width x 3) with the memcairo device; ending
// it copies the drawing back into `rgb`, and happens even when we throw.
class MemoryPage {
 public:
  MemoryPage(std::vector<unsigned char>& rgb, int width, int height) {
    plmkstrm(&id_);
    plsmem(width, height, rgb.data());
    plsdev("memcairo");
    plscmap0(kRed, kGreen, kBlue, static_cast<PLINT>(std::size(kRed)));
    plinit();
    pladv(0);
    plvpor(0, 1, 0, 1);
    plwind(0, width, 0, height);  // world coordinates are pixels, y up
  }
  ~MemoryPage() {
    plsstrm(id_);
    plend1();
  }
  MemoryPage(const MemoryPage&) = delete;
  MemoryPage& operator=(const MemoryPage&) = delete;

 private:
  PLINT id_ = 0;
};

// Writes `text` at pixel (x, y) from the top left, its middle at y, `just` 0 left-aligned, 0.5
// centred, 1 right-aligned.
void text_at(double x, double y, int height, double px, double just, const std::string& text,
             PLINT colour) {
  if (text.empty()) return;
  plcol0(colour);
  plschr(px * kMillimetresPerPixel, 1.0);
  plptex(x, height - y, 1, 0, just, escape(text).c_str());
}

}  // namespace

TileGridLayout tile_grid_layout(const TileGrid& grid) {
  if (grid.columns < 1 || grid.scale < 1) {
    throw std::invalid_argument("tile grid: need columns >= 1 and scale >= 1");
  }
  if (grid.tiles.empty()) throw std::invalid_argument("tile grid: no tiles");
  int tile_w = 0, tile_h = 0;
  for (const GrayImage& tile : grid.tiles) {
    if (tile.width == 0 && tile.height == 0) continue;  // a blank cell
    if (tile.width < 1 || tile.height < 1 ||
        tile.pixels.size() != static_cast<std::size_t>(tile.width) * tile.height) {
      throw std::invalid_argument("tile grid: a tile's pixels do not match its size");
    }
    if (tile_w == 0) {
      tile_w = tile.width;
      tile_h = tile.height;
    } else if (tile.width != tile_w || tile.height != tile_h) {
      throw std::invalid_argument("tile grid: tiles of different sizes");
    }
  }
  if (tile_w == 0) throw std::invalid_argument("tile grid: every tile is blank");
  const int rows = row_count(grid), groups = group_count(grid), per_group = group_size(grid);
  if (!grid.labels.empty() && grid.labels.size() != static_cast<std::size_t>(rows) * groups) {
    throw std::invalid_argument("tile grid: labels must be one per row and group");
  }
  if (!grid.captions.empty() && grid.captions.size() != grid.tiles.size()) {
    throw std::invalid_argument("tile grid: captions must be one per tile");
  }
  const long long scaled_w = static_cast<long long>(tile_w) * grid.scale;
  const long long scaled_h = static_cast<long long>(tile_h) * grid.scale;
  if (scaled_w > INT_MAX / 4 || scaled_h > INT_MAX / 4) {
    throw std::invalid_argument("tile grid: tiles too large");
  }

  TileGridLayout l;
  l.tile_width = static_cast<int>(scaled_w);
  l.tile_height = static_cast<int>(scaled_h);
  const int cell_w = l.tile_width + 2 * kFrame, cell_h = l.tile_height + 2 * kFrame;
  std::size_t longest = 0;
  for (const std::string& label : grid.labels) longest = std::max(longest, text_length(label));
  const int label_w =
      longest == 0 ? 0 : static_cast<int>(std::ceil(kCharWidth * kLabelPx * longest)) + kLabelGap;
  const bool captions = std::any_of(grid.captions.begin(), grid.captions.end(),
                                    [](const std::string& c) { return !c.empty(); });
  l.caption_height = captions ? kCaptionLine : 0;

  long long x = kMargin;
  for (int c = 0; c < grid.columns; ++c) {
    if (c % per_group == 0) {
      if (c > 0) x += kGroupGap;
      x += label_w;
      l.label_right.push_back(static_cast<int>(x - kLabelGap));
    }
    l.column_x.push_back(static_cast<int>(x + kFrame));
    x += cell_w + (c + 1 < grid.columns ? kGap : 0);
  }
  const long long width = x + kMargin;
  long long y = kMargin + kTitleLine + (grid.subtitle.empty() ? 0 : kSubtitleLine) + kTitleGap;
  l.title_y = kMargin + kTitleLine / 2;
  l.subtitle_y = kMargin + kTitleLine + kSubtitleLine / 2;
  for (int r = 0; r < rows; ++r) {
    l.row_y.push_back(static_cast<int>(y + kFrame));
    y += cell_h + l.caption_height + (r + 1 < rows ? kGap : 0);
  }
  const long long height = y + kMargin;
  if (width > INT_MAX / 3 || height > INT_MAX / 3 || width * height > INT_MAX / 3) {
    throw std::invalid_argument("tile grid: picture too large");
  }
  l.width = static_cast<int>(width);
  l.height = static_cast<int>(height);

  const double room = static_cast<double>(l.width - 2 * kMargin);
  l.title_px = fitting_px(grid.title, room, kTitlePx);
  l.subtitle_px = fitting_px(grid.subtitle, room, kSubtitlePx);
  l.label_px = kLabelPx;
  std::string widest;
  for (const std::string& caption : grid.captions) {
    if (text_length(caption) > text_length(widest)) widest = caption;
  }
  l.caption_px = fitting_px(widest, l.tile_width + kGap - 2, kCaptionPx);
  return l;
}

void plot_tile_grid(const std::string& path, const TileGrid& grid) {
  TileGridLayout l;
  try {
    l = tile_grid_layout(grid);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("plot " + path + ": " + e.what());
  }
  // The tiles first, pixel for pixel: PLplot draws the text over the page around them.
  const auto w = static_cast<std::size_t>(l.width);
  std::vector<unsigned char> rgb(w * l.height * 3, kPage);
  const auto paint = [&](std::size_t x, std::size_t y, std::uint8_t gray) {
    unsigned char* p = &rgb[(y * w + x) * 3];
    p[0] = p[1] = p[2] = gray;
  };
  for (std::size_t i = 0; i < grid.tiles.size(); ++i) {
    const GrayImage& tile = grid.tiles[i];
    if (tile.width == 0) continue;
    const int left = l.column_x[i % grid.columns], top = l.row_y[i / grid.columns];
    for (int y = -kFrame; y < l.tile_height + kFrame; ++y) {
      for (int x = -kFrame; x < l.tile_width + kFrame; ++x) {
        const bool frame = x < 0 || y < 0 || x >= l.tile_width || y >= l.tile_height;
        paint(left + x, top + y,
              frame ? kFrameGray : tile.pixels[(y / grid.scale) * tile.width + x / grid.scale]);
      }
    }
  }
  {
    const MemoryPage page(rgb, l.width, l.height);
    text_at(0.5 * l.width, l.title_y, l.height, l.title_px, 0.5, grid.title, kInk);
    text_at(0.5 * l.width, l.subtitle_y, l.height, l.subtitle_px, 0.5, grid.subtitle, kSubtitleInk);
    const auto groups = static_cast<std::size_t>(group_count(grid));
    for (std::size_t i = 0; i < grid.labels.size(); ++i) {
      const std::size_t row = i / groups, g = i % groups;
      if (row >= l.row_y.size()) break;
      text_at(l.label_right[g], l.row_y[row] + 0.5 * l.tile_height, l.height, l.label_px, 1.0,
              grid.labels[i], kInk);
    }
    for (std::size_t i = 0; i < grid.captions.size(); ++i) {
      const int left = l.column_x[i % grid.columns], top = l.row_y[i / grid.columns];
      text_at(left + 0.5 * l.tile_width, top + l.tile_height + kFrame + 0.5 * l.caption_height,
              l.height, l.caption_px, 0.5, grid.captions[i], kInk);
    }
  }
  GrayImage picture{l.width, l.height, {}};
  picture.pixels.resize(w * l.height);
  for (std::size_t i = 0; i < picture.pixels.size(); ++i) {
    const unsigned char* p = &rgb[i * 3];
    // Text is drawn in grays; subpixel antialiasing may tint its edges, which luma folds back.
    picture.pixels[i] =
        static_cast<std::uint8_t>((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
  }
  write_png(path, picture);
}

}  // namespace sae
