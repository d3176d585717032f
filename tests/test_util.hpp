#pragma once
// Shared by the unit and the end-to-end tests: temporary folders, tiny IDX files written on the
// spot, PNGs decoded, and the `sae` binary run, with the runs and sweeps that several tests read.

#include <sys/types.h>

#include "sae/data/dataset.hpp"
#include "sae/data/image.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sae::test {

/// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// The folder.
  const std::filesystem::path& path() const { return path_; }
  /// A path inside the folder.
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Writes `bytes` to `path`, gzip-compressed when `gz`.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gz);
/// The bytes of an IDX3 image file: magic, count, rows, cols, then the pixels.
std::vector<uint8_t> idx_images(const std::vector<uint8_t>& pixels, uint32_t count,
                                uint32_t rows = 28, uint32_t cols = 28, uint32_t magic = 0x803);
/// The bytes of an IDX1 label file: magic, count, then the labels.
std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x801);

/// `count` synthetic 28x28 digits-like images: a bright bar whose position follows the label.
std::vector<uint8_t> synthetic_pixels(uint32_t count, uint32_t seed);
/// Labels 0..9 repeating.
std::vector<uint8_t> synthetic_labels(uint32_t count);
/// The same synthetic images as an in-memory Dataset, labels 0..9 repeating.
Dataset synthetic_dataset(uint32_t count, uint32_t seed);
/// Writes the four standard MNIST files (.gz) for a synthetic set into `dir`.
void write_synthetic_mnist(const std::string& dir, uint32_t train_count, uint32_t test_count);

/// The whole content of a file ("" when it cannot be read).
std::string read_text(const std::string& path);

/// A PNG as libpng decoded it (CRCs checked), its samples read at 8 bits.
struct DecodedPng {
  int width = 0;
  int height = 0;
  int channels = 0;              // 1 gray, 2 gray and alpha, 3 RGB, 4 RGBA
  bool sixteen_bit = false;      // the file's depth, before the samples were read at 8 bits
  std::vector<uint8_t> samples;  // height * width * channels, row by row
  /// Whether every pixel is the same: a picture that draws nothing.
  bool blank() const;
};
/// Decodes the PNG at `path`; fails the test, and returns an empty image, when libpng refuses it.
DecodedPng decode_png(const std::string& path);
/// The 8-bit grayscale PNG at `path` as sae writes it; fails the test for any other.
GrayImage read_gray_png(const std::string& path);

/// What a run of the `sae` binary printed and how it ended.
struct RunResult {
  int exit_code = -1;  // -1 when it died of a signal
  std::string out;
  std::string err;
};
/// Runs `sae args...` to the end, capturing stdout and stderr; fails the test if it died of a
/// signal.
RunResult run_sae(const std::vector<std::string>& args);
/// Starts `sae args...` in the background, stdin and stdout on /dev/null, stderr into `err_path`,
/// with `env` (name, value) added to its environment; `before_exec` runs in the child just before
/// it becomes `sae` (keep it to system calls: it runs in the fork of a threaded process).
pid_t spawn_sae(const std::vector<std::string>& args, const std::string& err_path,
                const std::vector<std::pair<std::string, std::string>>& env = {},
                const std::function<void()>& before_exec = {});

/// A folder of synthetic MNIST files, or a run trained on it, made once per build of `sae` and
/// shared by every test process (CTest runs the suite in several shards at once): kept under the
/// build folder, keyed by the binary and the arguments, made under a file lock so that parallel
/// tests wait for the first instead of training it twice. Tests must not write into them.
std::string shared_data(uint32_t train_count, uint32_t test_count);
/// `sae train --out DIR args...`, shared like shared_data; fails the test if training fails.
std::string shared_run(const std::vector<std::string>& args);
/// A copy of shared_run(args) at `to`, for a test that changes the run (the shared one must stay
/// as it was made); returns `to`.
std::string copy_of_shared_run(const std::vector<std::string>& args, const std::string& to);
/// `sae sweep --out DIR args...`, shared like shared_data: DIR holds a run folder per grid point,
/// sweep.csv and sweep.png. Fails the test if the sweep fails.
std::string shared_sweep(const std::vector<std::string>& args);
/// The 2 x 2 grid that the sweep tests train and share (beta 0, 0.01; rho 0.05, 0.2; one epoch
/// of 300 synthetic images on one thread): `sae sweep` arguments, without --out.
std::vector<std::string> small_grid_args();

/// A failure the way a user should see it: non-zero, one line on stderr containing `needle`, no
/// "terminate called", no crash.
void expect_clean_failure(const RunResult& r, const std::string& needle);

}  // namespace sae::test
