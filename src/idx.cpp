#include "sae/idx.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

namespace sae {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
constexpr int64_t kRows = 28;
constexpr int64_t kCols = 28;
constexpr int64_t kNumClasses = 10;
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
      const unsigned want = static_cast<unsigned>(std::min(n - done, kChunkBytes));
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
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(expected - old_size, kChunkBytes));
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

std::string find_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path raw = fs::path(dir) / name;
  const fs::path gz = fs::path(dir) / (name + ".gz");
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(raw, ec)) return raw.string();
  throw DataError(fmt::format(
      "{}: missing {} (or {}.gz); run scripts/fetch-data.sh, or pass --data-dir", dir, name, name));
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) {
  IdxStream in(path);
  check_magic(in, in.read_u32("magic number"), kImageMagic, "image");
  const uint64_t count = in.read_u32("image count");
  const uint32_t rows = in.read_u32("row count");
  const uint32_t cols = in.read_u32("column count");
  if (rows != kRows || cols != kCols) {
    throw DataError(
        fmt::format("{}: images are {}x{}, expected {}x{}", path, rows, cols, kRows, kCols));
  }
  const std::string promise = fmt::format("{} images of {}x{}", count, rows, cols);
  std::vector<uint8_t> payload = read_payload(in, count * kRows * kCols, promise);
  return torch::from_blob(payload.data(), {static_cast<int64_t>(count), kRows, kCols},
                          torch::kUInt8)
      .clone();
}

torch::Tensor read_idx_labels(const std::string& path) {
  IdxStream in(path);
  check_magic(in, in.read_u32("magic number"), kLabelMagic, "label");
  const uint64_t count = in.read_u32("label count");
  std::vector<uint8_t> payload = read_payload(in, count, fmt::format("{} labels", count));
  for (size_t i = 0; i < payload.size(); ++i) {
    if (payload[i] >= kNumClasses) {
      throw DataError(fmt::format("{}: label {} at index {} is outside 0..{}", path, payload[i], i,
                                  kNumClasses - 1));
    }
  }
  return torch::from_blob(payload.data(), {static_cast<int64_t>(count)}, torch::kUInt8)
      .to(torch::kInt64);
}

Dataset load_split(const std::string& dir, Split split) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw DataError(fmt::format(
        "{}: data folder not found; run scripts/fetch-data.sh, or pass --data-dir", dir));
  }
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  Dataset data{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (data.images.size(0) != data.labels.size(0)) {
    throw DataError(fmt::format("{}: {} images but {} has {} labels", images_path,
                                data.images.size(0), labels_path, data.labels.size(0)));
  }
  if (data.size() == 0) throw DataError(fmt::format("{}: holds no images", images_path));
  return data;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // Fisher-Yates with our own index draw: std::shuffle and uniform_int_distribution are
  // implementation-defined, and runs must reproduce across standard libraries.
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

torch::Tensor to_float_batch(const torch::Tensor& images, const torch::Tensor& indices) {
  return to_float_batch(images.index_select(0, indices));
}

torch::Tensor to_float_batch(const torch::Tensor& images) {
  return images.unsqueeze(1).to(torch::kFloat32).div_(255.0);  // (B, 1, 28, 28)
}

}  // namespace sae
