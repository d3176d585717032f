#pragma once
// PNG files checked before anything trusts them: libpng reads the header alone (what decoding
// will cost is known first) or the whole file, every chunk's CRC included.

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sae {

/// What a PNG's IHDR says.
struct PngHeader {
  uint32_t width = 0;   ///< pixels
  uint32_t height = 0;  ///< pixels
  int bit_depth = 0;    ///< bits per sample: 1, 2, 4, 8 or 16
  int color_type = 0;   ///< 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  int compression = 0;  ///< 0, the only method PNG defines
  int filter = 0;       ///< 0, the only method PNG defines
  int interlace = 0;    ///< 0 none, 1 Adam7

  /// Samples per pixel as stored: a palette image stores one index per pixel.
  int channels() const;
  /// Bytes of samples at the stored depth: width x height x channels, 2 each at 16 bits, else 1.
  uint64_t sample_bytes() const;
  /// E.g. "5000x4000 RGBA 16-bit".
  std::string text() const;
};

/// Where a PNG went wrong.
enum class PngFault {
  kNoHeader,       ///< no signature and IHDR where the file starts: cut short, corrupt, bad CRC
  kInvalidHeader,  ///< an IHDR whose values PNG forbids (no pixels, an unknown colour type, ...)
  kCorrupt,        ///< after the header: a CRC, a chunk, the image data, or the file's end
};

/// A file libpng refused: what() is "PATH: a corrupt or truncated PNG (REASON)".
class PngError : public std::runtime_error {
 public:
  /// The refusal of the file at `path`.
  PngError(const std::string& path, PngFault fault, const std::string& reason,
           const PngHeader& header);
  /// Where it went wrong.
  PngFault fault() const { return fault_; }
  /// What is wrong, in libpng's words where it found it, e.g. "IDAT: CRC error".
  const std::string& reason() const { return reason_; }
  /// The IHDR's values as libpng read them, refused ones included; zeros where it read none.
  const PngHeader& header() const { return header_; }

 private:
  PngFault fault_;
  std::string reason_;
  PngHeader header_;
};

/// The header of the PNG `file`, read from its start by libpng (signature, IHDR, its CRC) and
/// nothing after it; throws PngError naming `path`. Any size passes: judging it is the caller's.
PngHeader read_png_header(std::FILE* file, const std::string& path);

/// A PNG that libpng read whole.
struct CheckedPng {
  PngHeader header;   ///< its IHDR
  uint64_t size = 0;  ///< bytes from its signature to the end of IEND; what follows is no PNG
};

/// Reads the PNG `file` from its start to IEND with libpng: every row decoded and every chunk's
/// CRC checked, ancillary chunks' too (their content is skipped); throws PngError naming `path`.
CheckedPng check_png(std::FILE* file, const std::string& path);

/// check_png for a PNG held in memory as `bytes`, named `path` in errors.
CheckedPng check_png(std::string_view bytes, const std::string& path);

/// How many bytes the IDAT chunks of the PNG `file` inflate to, counted by zlib no further than
/// just past `limit`: libpng only warns of surplus image data, after inflating all of it. A
/// malformed chunk list or stream ends the count early; check_png reports those.
uint64_t inflated_image_bytes(std::FILE* file, uint64_t limit);

}  // namespace sae
