#include "sae/data/idx_file.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace sae {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
constexpr size_t kChunkBytes = 1 << 20;

/// A gzip (or, transparently, raw) file opened for reading, with errors that name it.
class IdxStream {
 public:
  explicit IdxStream(std::string path) : path_(std::move(path)) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto status = fs::status(path_, ec);
    if (!fs::exists(status)) {
      throw DataError(
          fmt::format("{}: no such file; run scripts/fetch-data.sh to download the data", path_));
    }
    if (!fs::is_regular_file(status)) {
      throw DataError(fmt::format("{}: expected a regular file, found a {}", path_,
                                  fs::is_directory(status) ? "directory" : "special file"));
    }
    file_.reset(gzopen(path_.c_str(), "rb"));
    if (!file_) {
      throw DataError(fmt::format("{}: cannot open: {}", path_, std::strerror(errno)));
    }
  }

  const std::string& path() const { return path_; }

  /// Reads up to `n` bytes; fewer only at the end of the data.
  size_t read(void* out, size_t n) {
    size_t done = 0;
    auto* bytes = static_cast<unsigned char*>(out);
    while (done < n) {
      const auto want = static_cast<unsigned>(std::min(n - done, kChunkBytes));
      const int got = gzread(file_.get(), bytes + done, want);
      if (got < 0) throw_zlib_error();
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    if (done < n) throw_if_error();  // a truncated .gz ends early with an error set
    return done;
  }

  /// Reads a big-endian uint32 header field.
  uint32_t read_u32(const char* what) {
    std::array<unsigned char, 4> b{};
    if (read(b.data(), b.size()) != b.size()) {
      throw DataError(
          fmt::format("{}: file ends inside its header (while reading the {})", path_, what));
    }
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }

  /// Counts the bytes left, without keeping them.
  uint64_t count_rest() {
    std::vector<unsigned char> sink(kChunkBytes);
    uint64_t total = 0;
    while (size_t got = read(sink.data(), sink.size())) total += got;
    return total;
  }

 private:
  [[noreturn]] void throw_zlib_error() {
    int code = Z_OK;
    const char* message = gzerror(file_.get(), &code);
    if (code == Z_ERRNO) message = std::strerror(errno);
    throw DataError(
        fmt::format("{}: cannot read: {} (corrupt or truncated gzip file?)", path_, message));
  }
  void throw_if_error() {
    int code = Z_OK;
    gzerror(file_.get(), &code);
    if (code != Z_OK && code != Z_STREAM_END) throw_zlib_error();
  }

  struct GzClose {
    void operator()(gzFile f) const { gzclose(f); }
  };
  std::string path_;
  std::unique_ptr<gzFile_s, GzClose> file_;
};

/// Reads exactly `expected` payload bytes, growing the buffer only as data arrives, so a lying
/// header cannot make us allocate more than the file really holds.
std::vector<uint8_t> read_payload(IdxStream& in, uint64_t expected, const std::string& promise) {
  std::vector<uint8_t> payload;
  while (payload.size() < expected) {
    const size_t old_size = payload.size();
    const auto chunk = static_cast<size_t>(std::min<uint64_t>(expected - old_size, kChunkBytes));
    payload.resize(old_size + chunk);
    const size_t got = in.read(payload.data() + old_size, chunk);
    payload.resize(old_size + got);
    if (got < chunk) {
      throw DataError(fmt::format("{}: header promises {} ({} bytes) but the file holds {} bytes",
                                  in.path(), promise, expected, payload.size()));
    }
  }
  if (const uint64_t extra = in.count_rest(); extra > 0) {
    throw DataError(fmt::format("{}: {} trailing bytes after the {} ({} bytes) the header promises",
                                in.path(), extra, promise, expected));
  }
  return payload;
}

void check_magic(const IdxStream& in, uint32_t found, uint32_t expected, const char* kind) {
  if (found != expected) {
    throw DataError(fmt::format(
        "{}: bad magic number 0x{:08x}, expected 0x{:08x} for an IDX {} file (is this the right "
        "file, and not HTML from a failed download?)",
        in.path(), found, expected, kind));
  }
}

}  // namespace

IdxImages read_idx_image_file(const std::string& path) {
  IdxStream in(path);
  check_magic(in, in.read_u32("magic number"), kImageMagic, "image");
  const uint32_t count = in.read_u32("image count");
  const uint32_t rows = in.read_u32("row count");
  const uint32_t cols = in.read_u32("column count");
  if (rows != kImageSide || cols != kImageSide) {
    throw DataError(fmt::format("{}: images are {}x{}, expected {}x{}", path, rows, cols,
                                kImageSide, kImageSide));
  }
  const std::string promise = fmt::format("{} images of {}x{}", count, rows, cols);
  const uint64_t bytes = uint64_t{count} * kImageSide * kImageSide;
  return {count, read_payload(in, bytes, promise)};
}

std::vector<uint8_t> read_idx_label_file(const std::string& path) {
  IdxStream in(path);
  check_magic(in, in.read_u32("magic number"), kLabelMagic, "label");
  const uint32_t count = in.read_u32("label count");
  std::vector<uint8_t> labels = read_payload(in, count, fmt::format("{} labels", count));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= kIdxClasses) {
      throw DataError(fmt::format("{}: label {} at index {} is outside 0..{}", path, labels[i], i,
                                  kIdxClasses - 1));
    }
  }
  return labels;
}

}  // namespace sae
