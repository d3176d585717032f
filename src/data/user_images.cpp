#include "sae/data/user_images.hpp"

#include <fmt/format.h>
#include <png.h>
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include "sae/data/image_size.hpp"
#include "sae/data/png_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace sae {
namespace {

namespace fs = std::filesystem;

// What one image may cost. Inside stb_image a PNG's compressed data (at most the file) and its
// inflated samples are held at once, then the samples and their de-filtered copy, then that copy
// widened to RGBA at its own depth and the 8-bit RGBA made from it; read_gray then holds the
// 8-bit RGBA and a float gray copy. At these bounds the worst case, 8192x8192 gray 16-bit, peaks
// at 768 MiB (512 MiB of RGBA 16-bit beside its 256 MiB 8-bit copy; `sae encode` measured
// +741 MiB), so one image stays under 1 GiB. A digit needs far fewer pixels.
constexpr int kMaxSide = 8192;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMaxDecodedBytes = 256 * kMiB;  // width x height x channels x bytes per sample
constexpr uint64_t kMaxFileBytes = 384 * kMiB;     // more than any PNG of kMaxDecodedBytes needs
constexpr int kBox = 20;                           // MNIST fits each digit into 20x20 ...
constexpr int kSide = kImageSide;                  // ... and centres it in 28x28
constexpr float kInk = 0.25f;        // a pixel this bright (after inversion) is part of the digit
constexpr float kLightPaper = 0.5f;  // kAuto inverts an image whose mean is above this

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
        return fmt::format("a dangling symlink (to {}): no such file; point it at a PNG file",
                           fs::read_symlink(path, ec).string());
      }
      return "no such file";
    }
    case ELOOP:
      return "a symlink loop (its links never reach a file); point it at a PNG file";
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
  return fmt::format("not a regular file ({}); expected a PNG file", what);
}

/// What the first bytes of a file that is not a PNG look like, for a refusal.
std::string not_png(const unsigned char* head, size_t size) {
  const auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return size >= at + n && std::memcmp(head + at, magic, n) == 0;
  };
  const char* found = size == 0                                   ? "an empty file"
                      : starts("\xff\xd8\xff", 3)                 ? "a JPEG"
                      : starts("GIF8", 4)                         ? "a GIF"
                      : starts("BM", 2)                           ? "a BMP"
                      : starts("RIFF", 4) && starts("WEBP", 4, 8) ? "a WebP"
                      : starts("II*\0", 4) || starts("MM\0*", 4)  ? "a TIFF"
                                                                  : nullptr;
  return found ? fmt::format("not a PNG ({}); convert it to PNG", found)
               : "not a PNG (it does not start with the PNG signature); convert it to PNG";
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
/// throws naming `path` for another format, a corrupt header, or one beyond the limits.
PngHeader read_header_within_limits(std::FILE* file, uint64_t file_size, const std::string& path) {
  unsigned char head[12] = {};  // enough to tell the formats not_png names
  const size_t got = std::fread(head, 1, sizeof head, file);
  if (got < 8 || png_sig_cmp(head, 0, 8) != 0) throw bad(path, not_png(head, got));
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

/// Gray in [0, 1], alpha composited over white paper: (h * w).
std::vector<float> read_gray(const std::string& path, int& width, int& height) {
  // stat first and open without blocking: opening a FIFO for reading would wait for a writer.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw bad(path, unreachable(path, errno));
  if (S_ISDIR(st.st_mode)) throw bad(path, "a folder, not a PNG file");
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

  const PngHeader header =
      read_header_within_limits(file.get(), static_cast<uint64_t>(st.st_size), path);
  check_inflated_size(file.get(), header, path);  // first: check_whole would inflate it all
  check_whole(file.get(), path);
  std::rewind(file.get());
  // From a file that starts with the PNG signature stb_image runs its PNG decoder only.
  const char* no_reason = clear_stb_reason();
  int channels = 0;
  const std::unique_ptr<stbi_uc, void (*)(void*)> rgba(
      stbi_load_from_file(file.get(), &width, &height, &channels, /*desired_channels=*/4),
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
  std::vector<float> gray(static_cast<size_t>(width) * height);
  for (size_t i = 0; i < gray.size(); ++i) {
    const stbi_uc* p = rgba.get() + 4 * i;
    const float luma = (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;  // ITU-R 601
    const float alpha = p[3] / 255.0f;
    gray[i] = alpha * luma + (1.0f - alpha);
  }
  return gray;
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
    std::error_code ec;
    std::vector<std::string> pngs;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::string ext = it->path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (ext != ".png") continue;
      // A *.png that cannot be read is refused, not skipped: files.txt would silently lack it.
      const std::string file = it->path().string();
      if (::stat(file.c_str(), &st) != 0) throw bad(file, unreachable(file, errno));
      if (S_ISDIR(st.st_mode)) continue;  // a folder named *.png holds no image of its own
      if (!S_ISREG(st.st_mode)) throw bad(file, not_regular(st.st_mode));
      pngs.push_back(file);
    }
    if (ec) throw bad(path, fmt::format("cannot list this folder: {}", ec.message()));
    if (pngs.empty()) throw bad(path, "a folder without PNG files");
    std::sort(pngs.begin(), pngs.end());
    files.insert(files.end(), pngs.begin(), pngs.end());
  }
  return files;
}

Dataset load_user_images(const std::vector<std::string>& files, Invert invert) {
  std::vector<torch::Tensor> images;
  for (const std::string& file : files) images.push_back(load_user_image(file, invert));
  const auto batch = torch::stack(images);  // (N, 28, 28) in [0, 1]
  const auto bytes = batch.mul(255.0).round().clamp(0, 255).to(torch::kUInt8);
  return Dataset{bytes, torch::zeros({static_cast<int64_t>(files.size())}, torch::kInt64)};
}

}  // namespace sae
