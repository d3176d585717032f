#include "sae/plot/publish_png.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "sae/base/atomic_file.hpp"
#include "sae/data/png_check.hpp"

namespace sae {
namespace {

// A private folder under $TMPDIR (or /tmp), removed with its content however we leave.
class TempFolder {
 public:
  explicit TempFolder(const std::string& for_path) {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/sae-plot-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      throw std::runtime_error("cannot write " + for_path +
                               ": cannot make a folder to render in (" + pattern +
                               "): " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;  // a leftover in the temp folder is not worth failing for
    std::filesystem::remove_all(path_, ignored);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  /// A path inside the folder.
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

void publish_png(const std::string& path,
                 const std::function<void(const std::string& file)>& render) {
  const TempFolder folder(path);
  const std::string file = folder / "plot.png";
  render(file);
  const std::string incomplete = "cannot write " + path + ": the plot could not be rendered";
  std::string bytes;
  try {
    bytes = read_file(file);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(incomplete + " (" + e.what() + ")");
  }
  // A full disk or a file size limit must not publish a cut-off picture.
  std::string problem;
  try {
    const CheckedPng png = check_png(bytes, file);
    if (png.size != bytes.size()) {
      problem = std::to_string(bytes.size() - png.size) + " bytes after IEND";
    }
  } catch (const PngError& e) {
    problem = e.reason();
  }
  if (!problem.empty()) {
    throw std::runtime_error(incomplete + " completely (PLplot wrote " +
                             std::to_string(bytes.size()) + " bytes, not a whole PNG: " + problem +
                             ")");
  }
  write_file_atomically(path, bytes);
}

}  // namespace sae
