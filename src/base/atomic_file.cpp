#include "sae/base/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <vector>

namespace sae {
namespace {

constexpr const char* kTemporaryMarker = ".tmp";
constexpr int kTemporaryRandomChars = 6;  // mkstemps' XXXXXX

std::runtime_error write_error(const std::string& path, int error) {
  return std::runtime_error("cannot write " + path + ": " + std::strerror(error));
}

/// Writes all of `bytes` to `fd`, retrying short writes; returns 0 or the errno that stopped it.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

/// fsyncs the folder, so that the rename itself survives a power cut.
void sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse to open folders
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::filesystem::path target(path);
  if (!target.has_filename())
    throw std::runtime_error("cannot write " + path + ": not a file path");

  // The extension stays last ("loss.tmpAbC123.png"), so the leftovers still say what they were.
  const std::string extension = target.extension().string();
  const std::string pattern =
      (target.parent_path() / (target.stem().string() + kTemporaryMarker +
                               std::string(kTemporaryRandomChars, 'X') + extension))
          .string();
  std::vector<char> tmp(pattern.begin(), pattern.end());
  tmp.push_back('\0');
  const int fd = ::mkstemps(tmp.data(), static_cast<int>(extension.size()));
  if (fd < 0) throw write_error(path, errno);
  ::fchmod(fd, 0644);  // mkstemps makes it 0600; the result should look like any file we write

  int error = write_all(fd, bytes);
  if (error == 0 && ::fsync(fd) != 0) error = errno;  // NFS and full disks may only fail here
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && std::rename(tmp.data(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    std::remove(tmp.data());
    throw write_error(path, error);
  }
  sync_folder(target.parent_path());
}

void make_real_folder(const std::string& path) {
  std::string folder = path;
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();  // "x/" would follow a link
  struct stat st {};
  if (::lstat(folder.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return;
    if (!S_ISLNK(st.st_mode)) {
      throw std::runtime_error("cannot write " + path +
                               ": expected a folder, found a file; move the file away and run "
                               "again");
    }
    // As rename() replaces a symlinked file: the link goes, what it points to is never touched.
    if (::unlink(folder.c_str()) != 0) throw write_error(path, errno);
  } else if (errno != ENOENT) {
    throw write_error(path, errno);
  }
  if (::mkdir(folder.c_str(), 0777) != 0) {  // 0777 less the umask, as any folder sae makes
    const int error = errno;
    // Another writer may have made it in between: fine if it is a real folder.
    if (error != EEXIST || ::lstat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw write_error(path, error);
    }
  }
}

std::string read_file(const std::string& path) {
  // Non-blocking, then checked: a FIFO or a device in a file's place (a crafted run or sweep
  // folder) must neither hang the reader nor feed it without end, as /dev/zero would.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    throw std::runtime_error("cannot read " + path +
                             ": not a regular file (a FIFO, device or socket in its place)");
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool is_temporary_file_name(const std::string& filename) {
  static const std::regex temporary(R"(.*\.tmp[A-Za-z0-9]{6}(\.[^.]*)?)");
  return std::regex_match(filename, temporary);
}

}  // namespace sae
