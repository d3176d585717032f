#include "test_util.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <png.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include <fstream>
#include <random>
#include <stdexcept>

namespace sae::test {
namespace {

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "sae-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gz) {
  if (!gz) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return;
  }
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("gzopen failed: " + path);
  if (!bytes.empty()) gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_images(const std::vector<uint8_t>& pixels, uint32_t count, uint32_t rows,
                                uint32_t cols, uint32_t magic) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

std::vector<uint8_t> synthetic_pixels(uint32_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(count) * 784, 0);
  for (uint32_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(i % 10);
    const int top = 4 + label * 2 + static_cast<int>(rng() % 3);
    const int left = 4 + static_cast<int>(rng() % 10);
    for (int r = top; r < top + 3; ++r) {
      for (int c = left; c < left + 12; ++c) {
        pixels[i * 784 + r * 28 + c] = static_cast<uint8_t>(200 + rng() % 56);
      }
    }
  }
  return pixels;
}

std::vector<uint8_t> synthetic_labels(uint32_t count) {
  std::vector<uint8_t> labels(count);
  for (uint32_t i = 0; i < count; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  return labels;
}

void write_synthetic_mnist(const std::string& dir, uint32_t train_count, uint32_t test_count) {
  std::filesystem::create_directories(dir);
  const auto base = std::filesystem::path(dir);
  write_bytes((base / "train-images-idx3-ubyte.gz").string(),
              idx_images(synthetic_pixels(train_count, 1), train_count), true);
  write_bytes((base / "train-labels-idx1-ubyte.gz").string(),
              idx_labels(synthetic_labels(train_count)), true);
  write_bytes((base / "t10k-images-idx3-ubyte.gz").string(),
              idx_images(synthetic_pixels(test_count, 2), test_count), true);
  write_bytes((base / "t10k-labels-idx1-ubyte.gz").string(),
              idx_labels(synthetic_labels(test_count)), true);
}

Dataset synthetic_dataset(uint32_t count, uint32_t seed) {
  const auto pixels = synthetic_pixels(count, seed);
  auto images =
      torch::from_blob(const_cast<uint8_t*>(pixels.data()),
                       {static_cast<int64_t>(count), kImageSide, kImageSide}, torch::kUInt8)
          .clone();
  return {images, torch::arange(static_cast<int64_t>(count)) % 10};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool DecodedPng::blank() const {
  if (channels <= 0 || samples.empty()) return true;
  const size_t pixel = static_cast<size_t>(channels);
  for (size_t at = pixel; at + pixel <= samples.size(); at += pixel) {
    if (!std::equal(samples.begin(), samples.begin() + pixel, samples.begin() + at)) return false;
  }
  return true;
}

DecodedPng decode_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << path << ": libpng cannot read it: " << image.message;
    return {};
  }
  DecodedPng png;
  png.width = static_cast<int>(image.width);
  png.height = static_cast<int>(image.height);
  png.sixteen_bit = (image.format & PNG_FORMAT_FLAG_LINEAR) != 0;
  // Samples at 8 bits, and a palette's colours rather than its indices.
  image.format &= ~(PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLORMAP);
  png.channels = static_cast<int>(PNG_IMAGE_PIXEL_CHANNELS(image.format));
  png.samples.resize(PNG_IMAGE_SIZE(image));
  // The whole image data is read here, so a bad CRC or a cut-off stream fails now.
  if (!png_image_finish_read(&image, nullptr, png.samples.data(), 0, nullptr)) {
    ADD_FAILURE() << path << ": libpng cannot decode it: " << image.message;
    png_image_free(&image);
    return {};
  }
  return png;
}

GrayImage read_gray_png(const std::string& path) {
  const DecodedPng png = decode_png(path);
  EXPECT_EQ(png.channels, 1) << path;
  EXPECT_FALSE(png.sixteen_bit) << path;
  if (png.channels != 1 || png.sixteen_bit) return {};
  return {png.width, png.height, png.samples};
}

namespace {

std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

RunResult run_sae(const std::vector<std::string>& args) {
  TempDir io;
  std::string command = shell_quote(SAE_BINARY);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " >" + shell_quote(io / "out") + " 2>" + shell_quote(io / "err") + " </dev/null";
  const int status = std::system(command.c_str());
  RunResult r;
  r.out = read_text(io / "out");
  r.err = read_text(io / "err");
  // The shell reports a child killed by a signal as 128 + the signal.
  const bool died = !WIFEXITED(status) || WEXITSTATUS(status) > 128;
  EXPECT_FALSE(died) << command << " died: " << r.err;
  r.exit_code = WIFEXITED(status) && !died ? WEXITSTATUS(status) : -1;
  return r;
}

pid_t spawn_sae(const std::vector<std::string>& args, const std::string& err_path,
                const std::vector<std::pair<std::string, std::string>>& env,
                const std::function<void()>& before_exec) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    std::vector<char*> argv = {const_cast<char*>(SAE_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (before_exec) before_exec();
    execv(SAE_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

namespace {

/// A folder under the build tree named after `key` and the sae binary it was made with; `make`
/// fills it the first time, under an exclusive lock, and a "done" marker says it is complete.
std::string cached_folder(const std::string& key,
                          const std::function<void(const std::string&)>& make) {
  struct stat binary {};
  stat(SAE_BINARY, &binary);
  const std::string stamp = std::to_string(binary.st_size) + "-" + std::to_string(binary.st_mtime);
  const auto cache = std::filesystem::path(SAE_BINARY).parent_path() / "test-cache";
  std::filesystem::create_directories(cache);
  const std::string dir =
      (cache / (std::to_string(std::hash<std::string>{}(key + "|" + stamp)))).string();
  const int lock = open((dir + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  flock(lock, LOCK_EX);
  if (!std::filesystem::exists(dir + "/done")) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    make(dir);
    if (!::testing::Test::HasFatalFailure()) std::ofstream(dir + "/done") << key << "\n";
  }
  close(lock);  // releases the flock
  return dir;
}

}  // namespace

std::string shared_data(uint32_t train_count, uint32_t test_count) {
  const std::string key = "data " + std::to_string(train_count) + " " + std::to_string(test_count);
  return cached_folder(
      key, [&](const std::string& dir) { write_synthetic_mnist(dir, train_count, test_count); });
}

std::string shared_run(const std::vector<std::string>& args) {
  std::string key = "run";
  for (const auto& a : args) key += " " + a;
  return cached_folder(
             key,
             [&](const std::string& dir) {
               std::vector<std::string> full = {"train", "--out", dir + "/run", "--quiet"};
               full.insert(full.end(), args.begin(), args.end());
               const RunResult r = run_sae(full);
               ASSERT_EQ(r.exit_code, 0) << r.err;
             }) +
         "/run";
}

std::string copy_of_shared_run(const std::vector<std::string>& args, const std::string& to) {
  std::filesystem::copy(shared_run(args), to, std::filesystem::copy_options::recursive);
  return to;
}

std::string shared_sweep(const std::vector<std::string>& args) {
  std::string key = "sweep";
  for (const auto& a : args) key += " " + a;
  return cached_folder(
             key,
             [&](const std::string& dir) {
               std::vector<std::string> full = {"sweep", "--out", dir + "/sweep", "--quiet"};
               full.insert(full.end(), args.begin(), args.end());
               const RunResult r = run_sae(full);
               ASSERT_EQ(r.exit_code, 0) << r.err;
             }) +
         "/sweep";
}

std::vector<std::string> small_grid_args() {
  const std::string data = shared_data(/*train_count=*/300, /*test_count=*/100);
  return {"--beta", "0,0.01",     "--rho", "0.05,0.2",  "--epochs",
          "1",      "--data-dir", data,    "--threads", "1"};
}

void expect_clean_failure(const RunResult& r, const std::string& needle) {
  EXPECT_GT(r.exit_code, 0);
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

}  // namespace sae::test
