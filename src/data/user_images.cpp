#include "sae/data/user_images.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include "sae/data/image_size.hpp"
#include "sae/data/png_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;

// What one image may cost. Inside stb_image a PNG's compressed data (at most the file) and its
// inflated samples are held at once, then the samples and their de-filtered copy, then that copy
// widened to RGBA at its own depth and the 8-bit RGBA made from it; read_gray then holds the
// 8-bit RGBA and a float gray copy. At these bounds the worst case, 8192x8192 gray 16-bit, peaks
// at 768 MiB (512 MiB of RGBA 16-bit beside its 256 MiB 8-bit copy; `sae encode` measured
// +741 MiB), so one image stays under 1 GiB. A digit needs far fewer pixels. The other formats
// are bounded alike, by what stb_decoding_bytes counts.
constexpr int kMaxSide = 8192;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMaxDecodedBytes = 256 * kMiB;  // width x height x channels x bytes per sample
constexpr uint64_t kMaxFileBytes = 384 * kMiB;     // more than any PNG of kMaxDecodedBytes needs
// What the images decoding at once, on load_user_images' threads, may hold together: one image
// alone always fits, so a folder of large ones is decoded a few at a time, not one to a thread.
constexpr uint64_t kDecodingBudget = 2048 * kMiB;
constexpr int kBox = 20;             // MNIST fits each digit into 20x20 ...
constexpr int kSide = kImageSide;    // ... and centres it in 28x28
constexpr float kInk = 0.25f;        // a pixel this bright (after inversion) is part of the digit
constexpr float kLightPaper = 0.5f;  // kAuto inverts an image whose mean is above this
// stb_image refills its buffer in reads of exactly this many bytes (stbi__context::buffer_start):
// a shorter answer to one is the file's end, met by every decoder that reads to it.
constexpr int kStbBufferBytes = 128;
constexpr size_t kSniffBytes = 16;     // enough to tell every format sniff() names
constexpr int64_t kFilesPerTask = 16;  // images decoded by one thread at a time
constexpr size_t kNamesInWarning = 3;  // skipped files named in a warning
// The extensions that make a name an image's, sorted: those of every format stb_image decodes
// (.hdr too, refused by its content), and the other formats torchvision's ImageFolder reads
// (.tif, .tiff, .webp), so that a folder's such file is refused by its content, never skipped.
const std::vector<std::string> kImageExtensions = {
    ".bmp", ".dib", ".gif", ".hdr", ".jfif", ".jpe", ".jpeg", ".jpg",  ".pbm", ".pgm",
    ".pic", ".png", ".pnm", ".ppm", ".psd",  ".tga", ".tif",  ".tiff", ".webp"};

/// A share of kDecodingBudget, held while one image decodes: it waits until the images decoding
/// on other threads leave room for it.
class DecodingShare {
 public:
  explicit DecodingShare(uint64_t bytes) : bytes_(std::min(bytes, kDecodingBudget)) {
    std::unique_lock<std::mutex> lock(mutex_);
    room_.wait(lock, [&] { return in_flight_ + bytes_ <= kDecodingBudget; });
    in_flight_ += bytes_;
  }
  ~DecodingShare() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      in_flight_ -= bytes_;
    }
    room_.notify_all();
  }
  DecodingShare(const DecodingShare&) = delete;
  DecodingShare& operator=(const DecodingShare&) = delete;

 private:
  uint64_t bytes_;
  static inline std::mutex mutex_;
  static inline std::condition_variable room_;
  static inline uint64_t in_flight_ = 0;  // bytes of the shares held, under mutex_
};

std::runtime_error bad(const std::string& path, const std::string& why) {
  return std::runtime_error(fmt::format("{}: {}", path, why));
}

/// `bytes` for a person, rounded up so that a size just over a limit never reads as the limit.
std::string size_text(uint64_t bytes) {
  const bool gib = bytes >= 1024 * kMiB;
  const double units = static_cast<double>(bytes) / static_cast<double>(gib ? 1024 * kMiB : kMiB);
  return fmt::format("{:.1f} {}", std::ceil(units * 10.0) / 10.0, gib ? "GiB" : "MiB");
}

/// Why `path` cannot be followed to a file, `error` being stat's errno.
std::string unreachable(const std::string& path, int error) {
  switch (error) {
    case ENOENT: {
      struct stat link {};
      if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
        std::error_code ec;
        return fmt::format("a dangling symlink (to {}): no such file; point it at an image file",
                           fs::read_symlink(path, ec).string());
      }
      return "no such file";
    }
    case ELOOP:
      return "a symlink loop (its links never reach a file); point it at an image file";
    case ENOTDIR:
      return "no such file (a part of its path is a file, not a folder)";
    case EACCES:
      return "permission denied on a folder in its path; make that folder readable";
    default:
      return fmt::format("cannot be reached: {}", std::strerror(error));
  }
}

/// What a file that is neither a regular file nor a folder is, for a refusal.
std::string not_regular(mode_t mode) {
  const char* what = S_ISFIFO(mode)   ? "a FIFO"
                     : S_ISSOCK(mode) ? "a socket"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                                      : "of an unknown kind";
  return fmt::format("not a regular file ({}); expected an image file", what);
}

/// The formats load_user_image tells apart by their first bytes.
enum class Format { kPng, kJpeg, kGif, kBmp, kPsd, kPic, kPnm, kTga, kRefused };

/// What a file's first bytes say it is.
struct Sniffed {
  Format format = Format::kRefused;
  std::string name;     // "a JPEG", for messages
  std::string refusal;  // kRefused: why it is not decoded, and the fix
};

/// What the `size` first bytes `head` of a file say it is. TGA has no signature: kTga stands for
/// "none of the others", and stb_image's TGA test decides.
Sniffed sniff(const unsigned char* head, size_t size) {
  const auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return size >= at + n && std::memcmp(head + at, magic, n) == 0;
  };
  // The refusal of a format named `name`: the name, then `why` (which starts with its punctuation).
  const auto refused = [](const std::string& name, const std::string& why) {
    return Sniffed{Format::kRefused, name, name + why};
  };
  const auto stb_reads_no = [](const char* format) {
    return fmt::format(", which sae does not decode (stb_image reads no {}); convert it to PNG",
                       format);
  };
  if (size == 0) return {Format::kRefused, "an empty file", "an empty file; expected an image"};
  if (starts("\x89PNG\r\n\x1a\n", 8)) return {Format::kPng, "a PNG", ""};
  if (starts("\xff\xd8", 2)) return {Format::kJpeg, "a JPEG", ""};
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return {Format::kGif, "a GIF", ""};
  if (starts("BM", 2)) return {Format::kBmp, "a BMP", ""};
  if (starts("8BPS", 4)) return {Format::kPsd, "a PSD", ""};
  if (starts("\x53\x80\xf6\x34", 4)) return {Format::kPic, "a Softimage PIC", ""};
  if (starts("P5", 2) || starts("P6", 2)) return {Format::kPnm, "a PNM", ""};
  if (size >= 2 && head[0] == 'P' && head[1] >= '1' && head[1] <= '4') {
    return refused("a text or 1-bit PNM",
                   fmt::format(" (P{}), which sae does not decode; save it as a binary PGM or PPM "
                               "(P5, P6), or as PNG",
                               static_cast<char>(head[1])));
  }
  if (starts("#?RADIANCE", 10) || starts("#?RGBE", 6)) {
    // stb_image's HDR decoder loops forever on a run of length 0, which a damaged file holds.
    return refused("a Radiance HDR image",
                   ", which sae does not decode (its decoder can hang on a damaged file, and a "
                   "digit needs no floating-point pixels); convert it to PNG");
  }
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) {
    return refused("a WebP", stb_reads_no("WebP"));
  }
  if (starts("II*\0", 4) || starts("MM\0*", 4)) {
    return refused("a TIFF", stb_reads_no("TIFF"));
  }
  return {Format::kTga, "a TGA", ""};
}

/// What to tell of a header that libpng refused.
std::string header_refusal(const PngError& e) {
  const PngHeader& h = e.header();
  if (e.fault() != PngFault::kInvalidHeader) {
    return fmt::format(
        "a PNG without its header (IHDR first, 13 bytes): truncated or corrupt "
        "(libpng: {}); save it again as PNG",
        e.reason());
  }
  if (h.width < 1 || h.height < 1) {
    return fmt::format(
        "{}x{} pixels; expected 1 to {} on each side: a corrupt header, save it "
        "again as PNG",
        h.width, h.height, kMaxSide);
  }
  return fmt::format(
      "a corrupt PNG header (colour type {}, {}-bit, compression {}, filter {}, "
      "interlace {}); save it again as PNG",
      h.color_type, h.bit_depth, h.compression, h.filter, h.interlace);
}

/// The header of the PNG `file`, a file of `file_size` bytes, checked against what sae decodes;
/// throws naming `path` for a corrupt header or one beyond the limits.
PngHeader read_header_within_limits(std::FILE* file, uint64_t file_size, const std::string& path) {
  PngHeader h;
  try {
    h = read_png_header(file, path);
  } catch (const PngError& e) {
    throw bad(path, header_refusal(e));
  }
  if (h.width > kMaxSide || h.height > kMaxSide) {
    throw bad(path, fmt::format("{}x{} pixels; expected 1 to {} on each side: scale it down",
                                h.width, h.height, kMaxSide));
  }
  if (h.sample_bytes() > kMaxDecodedBytes) {
    throw bad(path,
              fmt::format("too large to decode: {} needs {}; expected at most {} (e.g. "
                          "8192x8192 at 8 bits, 5792x5792 RGBA 16-bit): scale it down or "
                          "save it with 8 bits per channel",
                          h.text(), size_text(h.sample_bytes()), size_text(kMaxDecodedBytes)));
  }
  if (file_size > kMaxFileBytes) {
    throw bad(path, fmt::format("a PNG file of {}; expected at most {} for {}: save it again "
                                "as PNG (compressed) or scale it down",
                                size_text(file_size), size_text(kMaxFileBytes), h.text()));
  }
  return h;
}

/// Throws naming `path` when the IDAT chunks of the PNG `file` inflate to more than its header's
/// image can hold: stb_image grows its buffer to whatever the stream holds (up to 2 GiB), so a
/// tiny file of deflated zeros would otherwise pass every header check and take gigabytes.
void check_inflated_size(std::FILE* file, const PngHeader& h, const std::string& path) {
  // Filter bytes and rows: Adam7's seven passes add at most one row of each per pass and row.
  const uint64_t row_bytes = (uint64_t{h.width} * h.channels() * h.bit_depth + 7) / 8;
  const uint64_t most = 2 * uint64_t{h.height} * (row_bytes + 1) + kMiB;
  const uint64_t inflated = inflated_image_bytes(file, most);
  if (inflated > most) {
    throw bad(path, fmt::format("its image data inflates to more than {}, where a {} image needs "
                                "at most {}: a corrupt PNG or a decompression bomb; save it again "
                                "as PNG",
                                size_text(inflated), h.text(), size_text(most)));
  }
}

/// Throws naming `path` unless libpng reads the PNG `file` whole, every CRC included: stb_image
/// checks none, and decodes a flipped byte into wrong pixels.
void check_whole(std::FILE* file, const std::string& path) {
  try {
    check_png(file, path);
  } catch (const PngError& e) {
    throw bad(path, fmt::format("cannot decode it: a corrupt or truncated PNG (libpng: {}); save "
                                "it again as PNG",
                                e.reason()));
  }
}

/// Sets stb_image's failure reason to the one its PNG decoder gives a file whose first chunk is
/// not IHDR, which libpng has ruled out, and returns it: a decode that then fails with this
/// reason failed without giving one (zlib's malloc returns NULL silently), and must not be
/// reported with whatever an earlier call left there, such as a JPEG probe's "no SOI".
const char* clear_stb_reason() {
  static const unsigned char kSignatureOnly[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  int width = 0, height = 0, channels = 0;
  stbi_image_free(stbi_load_from_memory(kSignatureOnly, sizeof kSignatureOnly, &width, &height,
                                        &channels, /*desired_channels=*/4));
  return stbi_failure_reason();
}

/// stb_image's 8-bit RGBA pixels of an image, freed with stb_image's own free.
using StbPixels = std::unique_ptr<stbi_uc, void (*)(void*)>;

/// The PNG `file` (at `path`, of `file_size` bytes) decoded to 8-bit RGBA, after libpng checked it
/// whole, with `share` taken for it; throws naming `path` when it is beyond the limits, corrupt,
/// truncated or a bomb.
StbPixels decode_png(std::FILE* file, uint64_t file_size, const std::string& path, int& width,
                     int& height, std::optional<DecodingShare>& share) {
  const PngHeader header = read_header_within_limits(file, file_size, path);
  // The inflated samples, their de-filtered copy, a 16-bit image's RGBA, the 8-bit RGBA and
  // read_gray's floats.
  const uint64_t pixels = uint64_t{header.width} * header.height;
  share.emplace(2 * header.sample_bytes() + (header.bit_depth == 16 ? 8 : 0) * pixels + 8 * pixels);
  check_inflated_size(file, header, path);  // first: check_whole would inflate it all
  check_whole(file, path);
  std::rewind(file);
  // From a file that starts with the PNG signature stb_image runs its PNG decoder only.
  const char* no_reason = clear_stb_reason();
  int channels = 0;
  StbPixels rgba(stbi_load_from_file(file, &width, &height, &channels, /*desired_channels=*/4),
                 stbi_image_free);
  if (!rgba) {
    const char* reason = stbi_failure_reason();
    if (reason == no_reason || (reason && std::strcmp(reason, "outofmem") == 0)) {
      throw bad(path, fmt::format("out of memory decoding it ({}, {} of samples): free memory or "
                                  "scale it down",
                                  header.text(), size_text(header.sample_bytes())));
    }
    if (reason && std::strcmp(reason, "too large") == 0) {
      throw bad(path, fmt::format("too large to decode: {} needs {}; scale it down", header.text(),
                                  size_text(header.sample_bytes())));
    }
    throw bad(path, fmt::format("cannot decode it: a corrupt or truncated PNG (stb_image: {}); "
                                "save it again as PNG",
                                reason && *reason ? reason : "no reason given"));
  }
  return rgba;
}

/// Bytes that stb_image holds while it decodes a `width` x `height` image of `format` with
/// `channels` samples a pixel of `bytes_per_sample`, before its 8-bit RGBA copy: the samples, and
/// beside them a progressive JPEG's 2-byte coefficients, a GIF's background frame.
uint64_t stb_decoding_bytes(Format format, int width, int height, int channels,
                            int bytes_per_sample) {
  const uint64_t samples = uint64_t{static_cast<uint32_t>(width)} * static_cast<uint32_t>(height) *
                           static_cast<uint32_t>(channels) *
                           static_cast<uint32_t>(bytes_per_sample);
  return format == Format::kJpeg ? 3 * samples : format == Format::kGif ? 2 * samples : samples;
}

/// A file as stb_image reads it through callbacks, watched for the decoder reading past its end:
/// stb_image goes on with zeros there, or stops short, and reports success, so that a truncated
/// JPEG, BMP or PNM would decode into an image with a black or grey part.
struct WatchedFile {
  std::FILE* file = nullptr;
  uint64_t size = 0;
  bool read_past_end = false;

  static int read(void* user, char* data, int size) {
    auto* w = static_cast<WatchedFile*>(user);
    const size_t got = std::fread(data, 1, static_cast<size_t>(std::max(size, 0)), w->file);
    // A refill may meet the end; any other read is a decoder asking for bytes it needs.
    if (size > 0 && (got == 0 || (got < static_cast<size_t>(size) && size != kStbBufferBytes))) {
      w->read_past_end = true;
    }
    return static_cast<int>(got);
  }
  static void skip(void* user, int n) {
    auto* w = static_cast<WatchedFile*>(user);
    const long at = std::fseek(w->file, n, SEEK_CUR) == 0 ? std::ftell(w->file) : -1;
    if (at < 0 || static_cast<uint64_t>(at) > w->size) w->read_past_end = true;
  }
  static int eof(void* user) {
    auto* w = static_cast<WatchedFile*>(user);
    const long at = std::ftell(w->file);
    return at < 0 || static_cast<uint64_t>(at) >= w->size;
  }
};

/// The format's name without its article: "JPEG" of "a JPEG".
std::string format_of(const Sniffed& sniffed) {
  return sniffed.name.substr(sniffed.name.find(' ') + 1);
}

/// The `file` (at `path`, of `file_size` bytes), an image of a format that stb_image alone reads,
/// as `sniffed` says, decoded to 8-bit RGBA with `share` taken for it; throws naming `path` when it
/// is beyond the limits, corrupt or truncated.
StbPixels decode_with_stb(std::FILE* file, uint64_t file_size, const Sniffed& sniffed,
                          const std::string& path, int& width, int& height,
                          std::optional<DecodingShare>& share) {
  int channels = 0;
  std::rewind(file);
  if (stbi_info_from_file(file, &width, &height, &channels) == 0) {
    if (sniffed.format == Format::kTga) {  // the name of the last guess, TGA, tells nothing
      throw bad(path,
                "not an image sae reads: neither PNG, JPEG, GIF, BMP, TGA, PSD, PIC nor binary "
                "PNM (P5, P6) by its content; convert it to PNG");
    }
    const char* reason = stbi_failure_reason();
    throw bad(path,
              fmt::format("cannot decode it: a corrupt or truncated {} (stb_image: {}); save "
                          "it again, or as PNG",
                          format_of(sniffed), reason && *reason ? reason : "no reason given"));
  }
  if (width < 1 || height < 1) {
    throw bad(path, fmt::format("{} of {}x{} pixels: a corrupt or truncated header; save it "
                                "again, or as PNG",
                                sniffed.name, width, height));
  }
  if (width > kMaxSide || height > kMaxSide) {
    throw bad(path, fmt::format("{}x{} pixels; expected 1 to {} on each side: scale it down", width,
                                height, kMaxSide));
  }
  std::rewind(file);
  const int bytes_per_sample = stbi_is_16_bit_from_file(file) ? 2 : 1;
  const uint64_t bytes =
      stb_decoding_bytes(sniffed.format, width, height, channels, bytes_per_sample);
  if (bytes > kMaxDecodedBytes) {
    throw bad(path, fmt::format("too large to decode: {} of {}x{} pixels needs {}; expected at "
                                "most {}: scale it down",
                                sniffed.name, width, height, size_text(bytes),
                                size_text(kMaxDecodedBytes)));
  }
  if (file_size > kMaxFileBytes) {
    throw bad(path, fmt::format("{} file of {}; expected at most {}: save it as PNG "
                                "(compressed) or scale it down",
                                sniffed.name, size_text(file_size), size_text(kMaxFileBytes)));
  }
  share.emplace(bytes + 8 * uint64_t{static_cast<uint32_t>(width)} *
                            static_cast<uint32_t>(height));  // and the RGBA, read_gray's floats
  std::rewind(file);
  WatchedFile watched{file, file_size};
  const stbi_io_callbacks callbacks{&WatchedFile::read, &WatchedFile::skip, &WatchedFile::eof};
  StbPixels rgba(stbi_load_from_callbacks(&callbacks, &watched, &width, &height, &channels,
                                          /*desired_channels=*/4),
                 stbi_image_free);
  if (!rgba) {
    const char* reason = stbi_failure_reason();
    if (reason && std::strcmp(reason, "outofmem") == 0) {
      throw bad(path, fmt::format("out of memory decoding it ({} of {}x{} pixels, {}): free "
                                  "memory or scale it down",
                                  sniffed.name, width, height, size_text(bytes)));
    }
    throw bad(path,
              fmt::format("cannot decode it: a corrupt or truncated {} (stb_image: {}); save "
                          "it again, or as PNG",
                          format_of(sniffed), reason && *reason ? reason : "no reason given"));
  }
  if (watched.read_past_end) {
    throw bad(path, fmt::format("cannot decode it: a truncated {} (its data ends before its image "
                                "does); save it again, or as PNG",
                                format_of(sniffed)));
  }
  return rgba;
}

/// Gray in [0, 1], alpha composited over white paper: (h * w).
std::vector<float> read_gray(const std::string& path, int& width, int& height) {
  // stat first and open without blocking: opening a FIFO for reading would wait for a writer.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw bad(path, unreachable(path, errno));
  if (S_ISDIR(st.st_mode)) throw bad(path, "a folder, not an image file");
  if (!S_ISREG(st.st_mode)) throw bad(path, not_regular(st.st_mode));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw bad(path, fmt::format("cannot open it: {}", std::strerror(errno)));
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(::fdopen(fd, "rb"), std::fclose);
  if (!file) {
    ::close(fd);
    throw bad(path, fmt::format("cannot open it: {}", std::strerror(errno)));
  }
  // The file opened may not be the one stat saw.
  if (::fstat(fd, &st) != 0) {
    throw bad(path, fmt::format("cannot read it: {}", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) throw bad(path, not_regular(st.st_mode));

  unsigned char head[kSniffBytes] = {};
  const size_t got = std::fread(head, 1, sizeof head, file.get());
  if (std::ferror(file.get())) {
    throw bad(path, fmt::format("cannot read it: {}", std::strerror(errno)));
  }
  const Sniffed sniffed = sniff(head, got);
  if (sniffed.format == Format::kRefused) throw bad(path, sniffed.refusal);
  const auto file_size = static_cast<uint64_t>(st.st_size);
  std::optional<DecodingShare> share;  // released once the RGBA pixels are freed
  const StbPixels rgba =
      sniffed.format == Format::kPng
          ? decode_png(file.get(), file_size, path, width, height, share)
          : decode_with_stb(file.get(), file_size, sniffed, path, width, height, share);
  std::vector<float> gray(static_cast<size_t>(width) * height);
  for (size_t i = 0; i < gray.size(); ++i) {
    const stbi_uc* p = rgba.get() + 4 * i;
    const float luma = (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;  // ITU-R 601
    const float alpha = p[3] / 255.0f;
    gray[i] = alpha * luma + (1.0f - alpha);
  }
  return gray;
}

/// The extension of `path`, lower case: ".png".
std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

}  // namespace

torch::Tensor load_user_image(const std::string& path, Invert invert) {
  int width = 0, height = 0;
  std::vector<float> gray = read_gray(path, width, height);
  double mean = 0.0;
  for (const float g : gray) mean += g;
  mean /= static_cast<double>(gray.size());
  if (invert == Invert::kYes || (invert == Invert::kAuto && mean > kLightPaper)) {
    for (float& g : gray) g = 1.0f - g;
  }

  // The digit's bounding box.
  int top = height, bottom = -1, left = width, right = -1;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (gray[static_cast<size_t>(y) * width + x] > kInk) {
        top = std::min(top, y), bottom = std::max(bottom, y);
        left = std::min(left, x), right = std::max(right, x);
      }
    }
  }
  if (bottom < 0) throw bad(path, "no digit found: the image is blank (try --invert)");
  const int box_w = right - left + 1, box_h = bottom - top + 1;

  // Fitted into 20x20, keeping its aspect, with stb_image_resize's filters.
  const double scale = static_cast<double>(kBox) / std::max(box_w, box_h);
  const int fit_w = std::clamp(static_cast<int>(std::lround(box_w * scale)), 1, kBox);
  const int fit_h = std::clamp(static_cast<int>(std::lround(box_h * scale)), 1, kBox);
  std::vector<float> fitted(static_cast<size_t>(fit_w) * fit_h);
  const float* crop = gray.data() + static_cast<size_t>(top) * width + left;
  if (stbir_resize_float(crop, box_w, box_h, width * static_cast<int>(sizeof(float)), fitted.data(),
                         fit_w, fit_h, 0, /*num_channels=*/1) == 0) {
    throw bad(path, "cannot resize it");
  }

  // Centred by its centre of mass, as far as the 28x28 field allows.
  double mass = 0.0, cy = 0.0, cx = 0.0;
  for (int y = 0; y < fit_h; ++y) {
    for (int x = 0; x < fit_w; ++x) {
      const double v = std::clamp(fitted[static_cast<size_t>(y) * fit_w + x], 0.0f, 1.0f);
      mass += v, cy += v * y, cx += v * x;
    }
  }
  const auto offset = [&](double centre, int size) {
    const int wanted = static_cast<int>(std::lround(kSide / 2.0 - 0.5 - centre));
    return std::clamp(wanted, 0, kSide - size);
  };
  const int oy = offset(cy / mass, fit_h), ox = offset(cx / mass, fit_w);
  auto out = torch::zeros({kSide, kSide}, torch::kFloat32);
  auto a = out.accessor<float, 2>();
  for (int y = 0; y < fit_h; ++y) {
    for (int x = 0; x < fit_w; ++x) {
      a[oy + y][ox + x] = std::clamp(fitted[static_cast<size_t>(y) * fit_w + x], 0.0f, 1.0f);
    }
  }
  return out;
}

bool is_image_name(const std::string& path) {
  return std::binary_search(kImageExtensions.begin(), kImageExtensions.end(),
                            lower_extension(path));
}

const std::vector<std::string>& image_extensions() {
  return kImageExtensions;
}

FolderListing list_folder(const std::string& dir) {
  FolderListing listing;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string path = it->path().string();
    const bool image = is_image_name(path);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      // An image that cannot be read is refused, not skipped: a data set would silently lack it.
      if (image) throw bad(path, unreachable(path, errno));
      listing.skipped.push_back(path);
    } else if (S_ISDIR(st.st_mode)) {
      listing.folders.push_back(path);  // a folder named *.png too: it holds no image of its own
    } else if (!image) {
      listing.skipped.push_back(path);
    } else if (!S_ISREG(st.st_mode)) {
      throw bad(path, not_regular(st.st_mode));
    } else {
      listing.images.push_back(path);
    }
  }
  if (ec) throw bad(dir, fmt::format("cannot list this folder: {}", ec.message()));
  for (auto* names : {&listing.images, &listing.folders, &listing.skipped}) {
    std::sort(names->begin(), names->end());
  }
  return listing;
}

std::string not_images_note(const std::vector<std::string>& entries) {
  std::string names;
  for (size_t i = 0; i < entries.size() && i < kNamesInWarning; ++i) {
    const std::string& entry = entries[i];
    const bool folder = !entry.empty() && entry.back() == '/';
    names += (i > 0 ? ", " : "") +
             fs::path(folder ? entry.substr(0, entry.size() - 1) : entry).filename().string() +
             (folder ? "/" : "");
  }
  if (entries.size() > kNamesInWarning) names += ", ...";
  std::string extensions;
  for (const std::string& ext : kImageExtensions) {
    extensions += (extensions.empty() ? "" : " ") + ext;
  }
  return fmt::format("{} {} not named as {} ({}); images are files named {} (any case)",
                     entries.size(), entries.size() == 1 ? "entry" : "entries",
                     entries.size() == 1 ? "an image" : "images", names, extensions);
}

std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw bad(path, unreachable(path, errno));
    if (S_ISREG(st.st_mode)) {
      files.push_back(path);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) throw bad(path, not_regular(st.st_mode));
    const FolderListing listing = list_folder(path);
    std::vector<std::string> skipped = listing.skipped;
    for (const std::string& folder : listing.folders) skipped.push_back(folder + "/");
    std::sort(skipped.begin(), skipped.end());
    if (listing.images.empty()) {
      throw bad(path, skipped.empty() ? std::string("an empty folder; expected image files in it")
                                      : "a folder without images: " + not_images_note(skipped));
    }
    if (!skipped.empty()) spdlog::warn("{}: skipped {}", path, not_images_note(skipped));
    files.insert(files.end(), listing.images.begin(), listing.images.end());
  }
  return files;
}

Dataset load_user_images(const std::vector<std::string>& files, Invert invert) {
  const auto n = static_cast<int64_t>(files.size());
  constexpr int64_t kPixels = kSide * kSide;
  auto images = torch::empty({n, kSide, kSide}, torch::kUInt8);  // (N, 28, 28)
  uint8_t* out = images.data_ptr<uint8_t>();
  // In parallel, for a data set of thousands of files; the error told is the first file's in
  // order, whichever thread met its own first. Files after a failed one are not decoded.
  std::vector<std::string> errors(files.size());
  std::atomic<int64_t> first_failed{n};
  at::parallel_for(0, n, kFilesPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end && i < first_failed.load(); ++i) {
      try {
        const auto bytes = load_user_image(files[i], invert)
                               .mul(255.0)
                               .round()
                               .clamp(0, 255)
                               .to(torch::kUInt8)
                               .contiguous();
        std::memcpy(out + i * kPixels, bytes.data_ptr<uint8_t>(), kPixels);
      } catch (const std::exception& e) {
        errors[i] = e.what();
        for (int64_t seen = first_failed.load(); i < seen;) {
          if (first_failed.compare_exchange_weak(seen, i)) break;
        }
      }
    }
  });
  if (const int64_t failed = first_failed.load(); failed < n) {
    throw std::runtime_error(errors[failed]);
  }
  return Dataset{images, torch::zeros({n}, torch::kInt64), /*num_classes=*/0};
}

}  // namespace sae
