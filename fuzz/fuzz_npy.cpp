// libFuzzer target for the NPY reader: any bytes must either load or raise DataError; never crash,
// hang, or allocate what the header claims before the file backs it.

#include <sys/mman.h>
#include <unistd.h>

#include "sae/data/npy_file.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader takes a path, so hand it an in-memory file.
  const int fd = memfd_create("npy", 0);
  if (fd < 0) return 0;
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    sae::read_npy_file(path);
  } catch (const sae::DataError&) {
  }
  close(fd);
  return 0;
}
