#pragma once
// Gray tiles on a grid with the text that says what they are: a title, a label left of each row
// (or of each group of columns in a row) and a caption under each tile. The tiles keep their
// pixels exactly; PLplot writes the text around them.

#include <string>
#include <vector>

#include "sae/data/image.hpp"

namespace sae {

/// Gray tiles on a grid, with their text; the picture is white, its text black.
struct TileGrid {
  std::string title;                  ///< the first line above the grid
  std::string subtitle;               ///< a smaller second line; empty: none
  std::vector<GrayImage> tiles;       ///< row by row, all the same size; an empty one (0 x 0)
                                      ///< leaves its cell blank
  int columns = 1;                    ///< tiles per row
  int group = 0;                      ///< > 0: columns in groups of this many, apart
  int scale = 1;                      ///< each tile pixel drawn as scale x scale
  std::vector<std::string> labels;    ///< empty, or one per row and group (row by row): left of
                                      ///< the group's first tile, e.g. a unit's number
  std::vector<std::string> captions;  ///< empty, or one per tile (empty: none): under it
};

/// Where the parts of a TileGrid go, in pixels from the picture's top left corner.
struct TileGridLayout {
  int width = 0;                 ///< of the picture
  int height = 0;                ///< of the picture
  int tile_width = 0;            ///< a tile as drawn, scaled
  int tile_height = 0;           ///< a tile as drawn, scaled
  std::vector<int> column_x;     ///< the left edge of each column's tiles
  std::vector<int> row_y;        ///< the top edge of each row's tiles
  std::vector<int> label_right;  ///< per group: where its labels end, right-aligned
  int caption_height = 0;        ///< the strip under each row of tiles for their captions
  int title_y = 0;               ///< the title's middle
  int subtitle_y = 0;            ///< the subtitle's middle
  double title_px = 0;           ///< font sizes, in pixels: smaller where a line is long
  double subtitle_px = 0;
  double label_px = 0;
  double caption_px = 0;
};

/// The layout of `grid`: its size depends on the tiles' count and size, the columns, the groups,
/// the longest label and whether there are captions, not on the titles' or captions' lengths.
/// Throws std::invalid_argument for tiles of different sizes, columns < 1, scale < 1, or labels
/// or captions that are not one per row and group or one per tile.
TileGridLayout tile_grid_layout(const TileGrid& grid);

/// Writes `grid` as an 8-bit gray PNG at `path`, atomically; throws std::runtime_error naming
/// `path` when it cannot.
void plot_tile_grid(const std::string& path, const TileGrid& grid);

}  // namespace sae
