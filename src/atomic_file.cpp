#include "sae/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace sae {
namespace {

std::runtime_error os_error(const std::string& what, const std::string& path, int error = errno) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(error));
}

// Flushes the data to disk so that a crash right after the rename cannot leave an empty file.
void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw os_error("cannot open", path);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) throw os_error("cannot fsync", path, error);
}

}  // namespace

void write_atomically(const std::string& path,
                      const std::function<void(const std::string& tmp_path)>& write) {
  const std::filesystem::path target(path);
  if (!target.has_filename()) throw std::runtime_error("not a file path: '" + path + "'");

  // The extension stays last ("loss.tmpAbC123.png") since some writers pick the format by it.
  const std::string extension = target.extension().string();
  const std::filesystem::path pattern =
      target.parent_path() / (target.stem().string() + ".tmp" + "XXXXXX" + extension);
  std::string tmp = pattern.string();
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  const int fd = ::mkstemps(name.data(), static_cast<int>(extension.size()));
  if (fd < 0) throw os_error("cannot create a temporary file for", path);
  tmp = name.data();
  // mkstemps makes the file 0600; the result should look like any other file we write.
  ::fchmod(fd, 0644);
  ::close(fd);

  try {
    write(tmp);
    sync_file(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      throw os_error("cannot rename " + tmp + " to", path);
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw os_error("cannot write", tmp);  // e.g. a full disk
  });
}

}  // namespace sae
