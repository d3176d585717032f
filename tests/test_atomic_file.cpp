#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sae/base/atomic_file.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace sae {
namespace {

namespace fs = std::filesystem;

/// Bytes no text function would keep intact: every byte value, NULs included.
std::string binary_bytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i < 256 ? i : rng() & 0xff);
  return bytes;
}

/// The names in `dir`, sorted.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// What write_file_atomically says when it fails ("" when it succeeds).
std::string write_failure(const std::string& path, const std::string& bytes) {
  try {
    write_file_atomically(path, bytes);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

/// A failed write's message names the path it was given, never its temporary file.
void expect_names_the_target(const std::string& message, const std::string& path) {
  EXPECT_EQ(message.rfind("cannot write " + path + ": ", 0), 0u) << message;
  EXPECT_EQ(message.find(".tmp"), std::string::npos) << message;
}

/// A tmpfs of `size` mounted on a folder, unmounted at scope exit.
class TinyFilesystem {
 public:
  TinyFilesystem(const std::string& dir, const std::string& size) : dir_(dir) {
    const std::string options = "size=" + size;
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~TinyFilesystem() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TinyFilesystem(const TinyFilesystem&) = delete;
  TinyFilesystem& operator=(const TinyFilesystem&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

TEST(AtomicFile, WritesTheBytesExactly) {
  test::TempDir dir;
  const std::string bytes = binary_bytes(200000, 1);  // more than one read() of read_file
  write_file_atomically(dir / "model.pt", bytes);
  EXPECT_EQ(read_file(dir / "model.pt"), bytes);
  EXPECT_EQ(test::read_text(dir / "model.pt"), bytes);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"model.pt"});
  // Readable by others, as any file we write: not the 0600 of a temporary file.
  EXPECT_EQ(fs::status(dir / "model.pt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);

  write_file_atomically(dir / "empty.csv", "");
  EXPECT_TRUE(fs::exists(dir / "empty.csv"));
  EXPECT_EQ(fs::file_size(dir / "empty.csv"), 0u);
}

TEST(AtomicFile, ReplacesAnExistingFileWhole) {
  test::TempDir dir;
  write_file_atomically(dir / "metrics.csv", std::string(5000, 'a'));
  write_file_atomically(dir / "metrics.csv", "short");  // nothing of the longer file remains
  EXPECT_EQ(read_file(dir / "metrics.csv"), "short");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"metrics.csv"});
}

TEST(AtomicFile, AWriteIntoAMissingFolderNamesThePathGiven) {
  test::TempDir dir;
  const std::string path = dir / "missing/model.pt";
  expect_names_the_target(write_failure(path, "bytes"), path);
  EXPECT_TRUE(names_in(dir.path()).empty());
}

TEST(AtomicFile, AFailedWriteInAReadOnlyFolderKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root, which may write into any folder";
  test::TempDir dir;
  const std::string path = dir / "model.pt";
  write_file_atomically(path, "old");
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
  const std::string message = write_failure(path, "new");
  fs::permissions(dir.path(), fs::perms::owner_all);
  expect_names_the_target(message, path);
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"model.pt"});
}

TEST(AtomicFile, AFailedWriteKeepsTheOldFileAndLeavesNoTemporary) {
  test::TempDir dir;
  const std::string mount_point = dir / "tiny";
  fs::create_directory(mount_point);
  const TinyFilesystem tiny(mount_point, "64k");
  if (!tiny.mounted()) {
    GTEST_SKIP() << "cannot mount a 64 KiB tmpfs to fill (needs root or CAP_SYS_ADMIN): "
                 << tiny.error();
  }
  const std::string path = mount_point + "/model.pt";
  write_file_atomically(path, "old");
  // Far more than the filesystem holds: the write fails part-way, with the disk full.
  const std::string message = write_failure(path, binary_bytes(1 << 20, 2));
  ASSERT_NE(message, "") << "1 MiB fit into a 64 KiB filesystem";
  expect_names_the_target(message, path);
  EXPECT_NE(message.find(std::strerror(ENOSPC)), std::string::npos) << message;
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(names_in(mount_point), std::vector<std::string>{"model.pt"});
  // The space of the failed write is free again: a small write succeeds.
  write_file_atomically(path, binary_bytes(32 << 10, 3));
  EXPECT_EQ(read_file(path), binary_bytes(32 << 10, 3));
}

TEST(AtomicFile, TemporaryNamesAreTheWritersOnly) {
  for (const char* name : {"model.tmpAb12Cd.pt", "metrics.tmpXy34Zw.csv", "loss.tmp000000.png",
                           "config.tmpabcdef.toml", "README.tmpABCDEF"}) {
    EXPECT_TRUE(is_temporary_file_name(name)) << name;
  }
  for (const char* name :
       {"model.pt", "model-00000012.pt", "optimizer-00000012.pt", "tmp.txt", "model.tmp.pt",
        "model.tmpAb12C.pt", "model.tmpAb_2Cd.pt", "notes.tmp", ".tmp"}) {
    EXPECT_FALSE(is_temporary_file_name(name)) << name;
  }
}

TEST(AtomicFile, ReadFileRefusesFifosAndDevicesWithoutBlocking) {
  // A crafted run or sweep folder with a FIFO or /dev/zero in a file's place (checkpoint.json,
  // sweep.csv, metrics.csv): once a reader that hung, or one that read without end.
  test::TempDir tmp;
  ASSERT_EQ(::mkfifo((tmp / "checkpoint.json").c_str(), 0600), 0);
  std::filesystem::create_symlink("/dev/zero", tmp / "sweep.csv");
  for (const char* name : {"checkpoint.json", "sweep.csv"}) {
    try {
      static_cast<void>(read_file(tmp / name));
      ADD_FAILURE() << name << " was read";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(tmp / name + ": not a regular file"), std::string::npos)
          << e.what();
    }
  }
}

TEST(AtomicFile, ReadFileReadsBinaryExactlyAndNamesAMissingFile) {
  test::TempDir dir;
  const std::string bytes = binary_bytes(70000, 4);
  test::write_bytes(dir / "data.bin", std::vector<uint8_t>(bytes.begin(), bytes.end()),
                    /*gz=*/false);
  EXPECT_EQ(read_file(dir / "data.bin"), bytes);
  test::write_bytes(dir / "empty.bin", {}, /*gz=*/false);
  EXPECT_EQ(read_file(dir / "empty.bin"), "");

  const std::string missing = dir / "missing.bin";
  try {
    read_file(missing);
    FAIL() << "read a missing file";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot read " + missing + ": ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace sae
