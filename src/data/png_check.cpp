#include "sae/data/png_check.hpp"

#include <fmt/format.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace sae {
namespace {

// The signature, then IHDR: its length and type, its 13 bytes, its CRC.
constexpr uint64_t kHeaderEnd = 8 + 8 + 13 + 4;
// libpng's words when png_check_IHDR refuses the values of an IHDR it has stored.
constexpr const char* kInvalidIhdr = "Invalid IHDR data";

// One run of libpng over a file or a buffer. libpng reports errors by longjmp, so everything it
// can jump over is plain data: no C++ object lives across a libpng call.
struct Reading {
  std::FILE* file = nullptr;             // the source: a file from its start ...
  const unsigned char* bytes = nullptr;  // ... or `size` bytes of memory
  size_t size = 0;
  bool header_only = false;  // stop once the IHDR is read
  bool header_read = false;  // ... and it was
  uint64_t offset = 0;       // bytes handed to libpng
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_bytep row = nullptr;
  PngHeader header;       // as libpng stored it
  char reason[256] = "";  // why libpng stopped
  char ours[128] = "";    // our own reasons, for png_error
};

void on_error(png_structp png, png_const_charp message) {
  Reading& r = *static_cast<Reading*>(png_get_error_ptr(png));
  std::snprintf(r.reason, sizeof r.reason, "%s", message);
  png_longjmp(png, 1);
}

// Benign problems (an odd sRGB profile, surplus image data) are not ours to refuse, and libpng's
// default would print them.
void on_warning(png_structp, png_const_charp) {}

void read_data(png_structp png, png_bytep out, size_t n) {
  Reading& r = *static_cast<Reading*>(png_get_io_ptr(png));
  if (r.offset >= kHeaderEnd) {
    // libpng would skip an unknown chunk before IHDR; a PNG starts with it.
    if (png_get_image_width(png, r.info) == 0) png_error(png, "the first chunk is not IHDR");
    if (r.header_only) {
      r.header_read = true;
      png_error(png, "stopped after IHDR");
    }
  }
  size_t got = 0;
  if (r.file != nullptr) {
    got = std::fread(out, 1, n, r.file);
  } else {
    got = static_cast<size_t>(std::min<uint64_t>(n, r.size - r.offset));
    std::memcpy(out, r.bytes + r.offset, got);
  }
  r.offset += got;
  if (got == n) return;
  if (r.file != nullptr && std::ferror(r.file)) {
    std::snprintf(r.ours, sizeof r.ours, "cannot read after %llu bytes: %s",
                  static_cast<unsigned long long>(r.offset), std::strerror(errno));
  } else {
    std::snprintf(r.ours, sizeof r.ours, "the file ends after %llu bytes",
                  static_cast<unsigned long long>(r.offset));
  }
  png_error(png, r.ours);
}

// The IHDR as libpng stored it; png_set_IHDR stores the values before checking them, so a
// refused header can still be described.
PngHeader stored_header(png_structp png, png_infop info) {
  return {png_get_image_width(png, info),      png_get_image_height(png, info),
          png_get_bit_depth(png, info),        png_get_color_type(png, info),
          png_get_compression_type(png, info), png_get_filter_type(png, info),
          png_get_interlace_type(png, info)};
}

// Runs libpng over r's source, to the end of the IHDR or of IEND; false, with r.reason, when it
// refuses what it reads.
bool run_libpng(Reading& r) {
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
  if (r.png != nullptr) r.info = png_create_info_struct(r.png);
  if (r.info == nullptr) {
    png_destroy_read_struct(&r.png, nullptr, nullptr);
    std::snprintf(r.reason, sizeof r.reason, "libpng cannot start: out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(r.png))) {
    r.header = stored_header(r.png, r.info);
    png_free(r.png, r.row);
    png_destroy_read_struct(&r.png, &r.info, nullptr);
    return r.header_read;
  }
  png_set_read_fn(r.png, &r, read_data);
  png_set_user_limits(r.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);  // sizes are the caller's to judge
  png_set_crc_action(r.png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  // Ancillary chunks are skipped, CRC checked: their content (zTXt can inflate to megabytes,
  // iCCP can hold a profile libpng frowns at) does not matter to a check.
  png_set_keep_unknown_chunks(r.png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  // As lenient as stb_image with a zlib header that understates its window.
  png_set_option(r.png, PNG_MAXIMUM_INFLATE_WINDOW, PNG_OPTION_ON);
  png_read_info(r.png, r.info);
  const int passes = png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  r.row = static_cast<png_bytep>(png_malloc(r.png, png_get_rowbytes(r.png, r.info)));
  const png_uint_32 height = png_get_image_height(r.png, r.info);
  for (int pass = 0; pass < passes; ++pass) {
    for (png_uint_32 y = 0; y < height; ++y) png_read_row(r.png, r.row, nullptr);
  }
  png_read_end(r.png, nullptr);
  r.header = stored_header(r.png, r.info);
  png_free(r.png, r.row);
  png_destroy_read_struct(&r.png, &r.info, nullptr);
  return true;
}

PngError refusal(const Reading& r, const std::string& path) {
  const PngFault fault = std::strcmp(r.reason, kInvalidIhdr) == 0 ? PngFault::kInvalidHeader
                         : r.header.width == 0                    ? PngFault::kNoHeader
                                                                  : PngFault::kCorrupt;
  return PngError(path, fault, r.reason, r.header);
}

CheckedPng check(Reading& r, const std::string& path) {
  if (!run_libpng(r)) throw refusal(r, path);
  return {r.header, r.offset};
}

}  // namespace

int PngHeader::channels() const {
  return color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 1;
}

uint64_t PngHeader::sample_bytes() const {
  return uint64_t{width} * height * channels() * (bit_depth == 16 ? 2 : 1);  // 1-4 bits: a byte
}

std::string PngHeader::text() const {
  const char* kind = color_type == 0   ? "gray"
                     : color_type == 2 ? "RGB"
                     : color_type == 3 ? "palette"
                     : color_type == 4 ? "gray+alpha"
                                       : "RGBA";
  return fmt::format("{}x{} {} {}-bit", width, height, kind, bit_depth);
}

PngError::PngError(const std::string& path, PngFault fault, const std::string& reason,
                   const PngHeader& header)
    : std::runtime_error(fmt::format("{}: a corrupt or truncated PNG ({})", path, reason)),
      fault_(fault),
      reason_(reason),
      header_(header) {}

PngHeader read_png_header(std::FILE* file, const std::string& path) {
  std::rewind(file);
  Reading r;
  r.file = file;
  r.header_only = true;
  if (!run_libpng(r)) throw refusal(r, path);
  return r.header;
}

CheckedPng check_png(std::FILE* file, const std::string& path) {
  std::rewind(file);
  Reading r;
  r.file = file;
  return check(r, path);
}

CheckedPng check_png(std::string_view bytes, const std::string& path) {
  Reading r;
  r.bytes = reinterpret_cast<const unsigned char*>(bytes.data());
  r.size = bytes.size();
  return check(r, path);
}

uint64_t inflated_image_bytes(std::FILE* file, uint64_t limit) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return 0;
  const std::unique_ptr<z_stream, int (*)(z_stream*)> end(&zs, inflateEnd);
  std::vector<unsigned char> in(64 * 1024), out(256 * 1024);
  uint64_t inflated = 0;
  if (std::fseek(file, 8, SEEK_SET) != 0) return 0;  // past the signature
  for (;;) {
    unsigned char chunk[8];  // length, type
    if (std::fread(chunk, 1, 8, file) != 8) return inflated;
    const uint32_t length = png_get_uint_32(chunk);
    if (std::memcmp(chunk + 4, "IEND", 4) == 0 || length > (1u << 31)) return inflated;
    if (std::memcmp(chunk + 4, "IDAT", 4) != 0) {
      if (std::fseek(file, static_cast<long>(length) + 4, SEEK_CUR) != 0) return inflated;
      continue;  // past its data and CRC
    }
    for (uint32_t left = length; left > 0;) {
      const size_t n = std::min<size_t>(left, in.size());
      if (std::fread(in.data(), 1, n, file) != n) return inflated;
      left -= static_cast<uint32_t>(n);
      zs.next_in = in.data();
      zs.avail_in = static_cast<uInt>(n);
      while (zs.avail_in > 0) {
        zs.next_out = out.data();
        zs.avail_out = static_cast<uInt>(out.size());
        const int status = inflate(&zs, Z_NO_FLUSH);
        inflated += out.size() - zs.avail_out;
        if (inflated > limit || status != Z_OK) return inflated;  // past it, ended, or corrupt
      }
    }
    if (std::fseek(file, 4, SEEK_CUR) != 0) return inflated;  // the chunk's CRC
  }
}

}  // namespace sae
