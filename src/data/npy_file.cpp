#include "sae/data/npy_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>

namespace sae {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kPreambleBytes = kMagicBytes + 2;  // then the version's major and minor bytes
constexpr size_t kMaxHeaderBytes = 10000;           // numpy's own bound when it loads one
constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kShownHeaderChars = 120;  // of a header quoted in an error

/// An NPY file opened for reading, with errors that name it.
class NpyStream {
 public:
  explicit NpyStream(std::string path) : path_(std::move(path)), file_(nullptr, std::fclose) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto status = fs::status(path_, ec);
    if (!fs::exists(status)) throw DataError(fmt::format("{}: no such file", path_));
    // Checked before opening: opening a FIFO would wait for a writer.
    if (!fs::is_regular_file(status)) {
      throw DataError(fmt::format("{}: expected a regular file, found a {}", path_,
                                  fs::is_directory(status) ? "directory" : "special file"));
    }
    file_.reset(std::fopen(path_.c_str(), "rb"));
    if (!file_) throw DataError(fmt::format("{}: cannot open: {}", path_, std::strerror(errno)));
  }

  const std::string& path() const { return path_; }

  /// Reads up to `n` bytes; fewer only at the end of the file.
  size_t read(void* out, size_t n) {
    const size_t got = std::fread(out, 1, n, file_.get());
    if (got < n && std::ferror(file_.get())) {
      throw DataError(fmt::format("{}: cannot read: {}", path_, std::strerror(errno)));
    }
    return got;
  }

  /// Counts the bytes left, without keeping them.
  uint64_t count_rest() {
    std::vector<unsigned char> sink(kChunkBytes);
    uint64_t total = 0;
    while (const size_t got = read(sink.data(), sink.size())) total += got;
    return total;
  }

 private:
  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
};

/// `text` quoted for an error: control and non-ASCII bytes escaped, long text cut.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kShownHeaderChars; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + (text.size() > kShownHeaderChars ? "\"..." : "\"");
}

/// What NPY's header says: the dict numpy writes, {'descr': ..., 'fortran_order': ..., 'shape':
/// ...}, read as the Python literal it is (numpy reads it with ast.literal_eval).
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

/// A reader of the header dict: strings in quotes, True and False, tuples of integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader header;
    std::set<std::string> seen;
    expect('{', "where the header starts");
    while (!take('}')) {
      const std::string key = string_literal("a key");
      if (!seen.insert(key).second) fail(fmt::format("the key '{}' twice", key));
      expect(':', "after the key");
      if (key == "descr") {
        if (peek() == '[') {
          throw DataError(fmt::format(
              "{}: a structured dtype (a list of fields); sae reads plain numeric arrays: save "
              "one field, numpy.save(path, arr['name'])",
              path_));
        }
        header.descr = string_literal("the descr");
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
      } else if (key == "shape") {
        header.shape = tuple();
      } else {
        fail(fmt::format("an unknown key '{}'", key));
      }
      if (!take(',')) {
        expect('}', "after a value");
        break;
      }
    }
    skip_space();
    if (at_ != text_.size()) fail("text after the dict's closing brace");
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      if (seen.count(key) == 0) fail(fmt::format("no '{}' key", key));
    }
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw DataError(fmt::format(
        "{}: not an NPY header numpy writes: {} (at character {} of {}); save it again with "
        "numpy.save",
        path_, why, at_, quoted(text_)));
  }
  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\r' || text_[at_] == '\n')) {
      ++at_;
    }
  }
  char peek() {
    skip_space();
    return at_ < text_.size() ? text_[at_] : '\0';
  }
  bool take(char c) {
    if (peek() != c || c == '\0') return false;
    ++at_;
    return true;
  }
  void expect(char c, const char* where) {
    if (!take(c)) fail(fmt::format("no '{}' {}", c, where));
  }
  std::string string_literal(const char* what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(fmt::format("{} that is no quoted string", what));
    const size_t end = text_.find(quote, at_ + 1);
    if (end == std::string::npos) fail(fmt::format("{} without its closing quote", what));
    std::string value = text_.substr(at_ + 1, end - at_ - 1);
    // numpy's keys and descrs have no escapes; one here would change what the string means.
    if (value.find('\\') != std::string::npos) fail(fmt::format("{} with an escape", what));
    at_ = end + 1;
    return value;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.compare(at_, std::strlen(word), word) == 0) {
        at_ += std::strlen(word);
        return value;
      }
    }
    fail("a fortran_order that is neither True nor False");
  }
  int64_t integer() {
    skip_space();
    const size_t start = at_;
    int64_t value = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      const int digit = text_[at_] - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        fail("a dimension beyond 2^63");
      }
      value = value * 10 + digit;
      ++at_;
    }
    if (at_ == start) fail("a dimension that is no integer at least 0");
    if (at_ < text_.size() && text_[at_] == 'L') ++at_;  // Python 2's long, as numpy still reads
    return value;
  }
  std::vector<int64_t> tuple() {
    expect('(', "where the shape starts");
    std::vector<int64_t> values;
    while (!take(')')) {
      values.push_back(integer());
      if (!take(',')) {
        expect(')', "after a dimension");
        // (5) is the number 5 in Python, not a tuple: numpy writes (5,).
        if (values.size() == 1) fail("a shape of one dimension without its comma");
        break;
      }
    }
    return values;
  }

  const std::string& text_;
  const std::string& path_;
  size_t at_ = 0;
};

/// What numpy calls the dtype `descr` names, for an error: "float16", "bool", "a string", ...
std::string descr_name(const std::string& descr) {
  if (descr.size() < 2) return "unknown";
  const std::string size = descr.substr(2);
  const char* const bits_of[] = {"1", "2", "4", "8", "16"};
  std::string bits;
  for (size_t i = 0; i < std::size(bits_of); ++i) {
    if (size == bits_of[i]) bits = std::to_string(8 << i);
  }
  switch (descr[1]) {
    case 'b':
      return "bool";
    case 'i':
      return "int" + bits;
    case 'u':
      return "uint" + bits;
    case 'f':
      return "float" + bits;
    case 'c':
      return "complex";
    case 'O':
      return "Python objects, pickled";
    case 'U':
    case 'S':
      return "strings";
    case 'M':
    case 'm':
      return "dates or times";
    default:
      return "unknown";
  }
}

/// The element type `descr` names; throws DataError naming `path` for one sae does not read.
NpyType type_of(const std::string& descr, const std::string& path) {
  struct Known {
    const char* code;  // kind and size, as in descr after its byte-order character
    NpyType type;
  };
  static const Known kKnown[] = {{"u1", NpyType::kUint8},   {"i1", NpyType::kInt8},
                                 {"i4", NpyType::kInt32},   {"i8", NpyType::kInt64},
                                 {"f4", NpyType::kFloat32}, {"f8", NpyType::kFloat64}};
  const char order = descr.empty() ? '\0' : descr[0];
  const std::string code = descr.empty() ? "" : descr.substr(1);
  for (const Known& known : kKnown) {
    if (code != known.code) continue;
    const bool one_byte = code[1] == '1';
    if (order == '<' || (one_byte && (order == '|' || order == '>'))) return known.type;
    if (order == '>') {
      throw DataError(fmt::format(
          "{}: a big-endian array (dtype '{}'); save it little-endian: arr.astype('<{}')", path,
          descr, code));
    }
  }
  throw DataError(fmt::format(
      "{}: dtype '{}' ({}) is not one sae reads (uint8, int8, int32, int64, float32, float64); "
      "convert it with arr.astype(...)",
      path, descr, descr_name(descr)));
}

/// The header's length field: 2 bytes in version 1.0, 4 in 2.0 and 3.0 (little-endian).
size_t header_length(NpyStream& in, int major, int minor) {
  if ((major < 1 || major > 3) || minor != 0) {
    throw DataError(fmt::format(
        "{}: NPY format version {}.{}; sae reads 1.0, 2.0 and 3.0: save it again with numpy.save",
        in.path(), major, minor));
  }
  std::array<unsigned char, 4> b{};
  const size_t width = major == 1 ? 2 : 4;
  if (in.read(b.data(), width) != width) {
    throw DataError(fmt::format("{}: file ends inside its header (in its length)", in.path()));
  }
  return size_t{b[0]} | (size_t{b[1]} << 8) | (size_t{b[2]} << 16) | (size_t{b[3]} << 24);
}

/// Reads exactly `expected` data bytes, growing the buffer only as data arrives, so a lying shape
/// cannot make us allocate more than the file really holds.
std::vector<uint8_t> read_data(NpyStream& in, uint64_t expected, const std::string& promise) {
  std::vector<uint8_t> data;
  while (data.size() < expected) {
    const size_t old_size = data.size();
    const auto chunk = static_cast<size_t>(std::min<uint64_t>(expected - old_size, kChunkBytes));
    data.resize(old_size + chunk);
    const size_t got = in.read(data.data() + old_size, chunk);
    data.resize(old_size + got);
    if (got < chunk) {
      throw DataError(fmt::format(
          "{}: header promises {} ({} bytes) but the file holds {} bytes after its header; it is "
          "truncated: save it again",
          in.path(), promise, expected, data.size()));
    }
  }
  if (const uint64_t extra = in.count_rest(); extra > 0) {
    throw DataError(
        fmt::format("{}: {} trailing bytes after the data the header promises ({}, {} "
                    "bytes); save it again with numpy.save",
                    in.path(), extra, promise, expected));
  }
  return data;
}

}  // namespace

const char* npy_type_name(NpyType type) {
  switch (type) {
    case NpyType::kUint8:
      return "uint8";
    case NpyType::kInt8:
      return "int8";
    case NpyType::kInt32:
      return "int32";
    case NpyType::kInt64:
      return "int64";
    case NpyType::kFloat32:
      return "float32";
    case NpyType::kFloat64:
      return "float64";
  }
  return "?";
}

int npy_type_size(NpyType type) {
  switch (type) {
    case NpyType::kUint8:
    case NpyType::kInt8:
      return 1;
    case NpyType::kInt32:
    case NpyType::kFloat32:
      return 4;
    case NpyType::kInt64:
    case NpyType::kFloat64:
      return 8;
  }
  return 1;
}

int64_t NpyArray::count() const {
  // read_npy_file bounds the running product only until a dimension is 0.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

std::string NpyArray::shape_text() const {
  std::string text = "(";
  for (size_t d = 0; d < shape.size(); ++d) {
    text += std::to_string(shape[d]);
    text += shape.size() == 1 ? "," : (d + 1 < shape.size() ? ", " : "");
  }
  return text + ")";
}

NpyArray read_npy_file(const std::string& path) {
  NpyStream in(path);
  std::array<unsigned char, kPreambleBytes> preamble{};
  const size_t got = in.read(preamble.data(), preamble.size());
  if (got >= kMagicBytes && std::memcmp(preamble.data(), "PK\x03\x04", 4) == 0) {
    throw DataError(fmt::format(
        "{}: a zip archive (.npz?), not an NPY file; save each array with numpy.save", path));
  }
  if (got < kMagicBytes || std::memcmp(preamble.data(), kMagic, kMagicBytes) != 0) {
    throw DataError(fmt::format(
        "{}: not an NPY file (it does not start with \\x93NUMPY); save the array with numpy.save",
        path));
  }
  if (got < preamble.size()) {
    throw DataError(fmt::format("{}: file ends inside its header (in its version)", path));
  }
  const size_t length = header_length(in, preamble[6], preamble[7]);
  if (length > kMaxHeaderBytes) {
    throw DataError(fmt::format(
        "{}: a header of {} bytes; numpy itself reads at most {}: save it again with numpy.save",
        path, length, kMaxHeaderBytes));
  }
  std::string text(length, '\0');
  if (const size_t n = in.read(text.data(), length); n != length) {
    throw DataError(
        fmt::format("{}: file ends inside its header ({} of its {} bytes)", path, n, length));
  }
  const NpyHeader header = HeaderParser(text, path).parse();
  NpyArray array;
  array.type = type_of(header.descr, path);
  array.shape = header.shape;
  if (header.fortran_order) {
    throw DataError(
        fmt::format("{}: a Fortran-order (column-major) array; save it in C order: "
                    "numpy.save(path, numpy.ascontiguousarray(arr))",
                    path));
  }
  // The byte count, refused before it can overflow: the shape is the file's to claim.
  uint64_t bytes = static_cast<uint64_t>(npy_type_size(array.type));
  for (const int64_t d : array.shape) {
    const auto dim = static_cast<uint64_t>(d);
    if (dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / 2 / dim) {
      throw DataError(
          fmt::format("{}: header promises a {} array of shape {}: more than 2^63 bytes", path,
                      npy_type_name(array.type), array.shape_text()));
    }
    bytes *= dim;
  }
  const std::string promise =
      fmt::format("a {} array of shape {}", npy_type_name(array.type), array.shape_text());
  array.data = read_data(in, bytes, promise);
  return array;
}

}  // namespace sae
