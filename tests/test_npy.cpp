// The NPY writer and reader, and NumPy data folders. The bytes numpy itself writes for the
// writer's arrays are checked in tests/test_pytorch_interop.py (codes.npy and labels.npy of
// `sae encode`); here, the layout, and files numpy 1.24 wrote, pasted, for the reader.

#include <gtest/gtest.h>

#include "sae/data/dataset.hpp"
#include "sae/data/npy.hpp"
#include "sae/data/npy_file.hpp"
#include "test_util.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

namespace sae {
namespace {

using test::TempDir;

/// The header text of an NPY file: from byte 10 to the end of the header.
std::string header_of(const std::string& bytes) {
  const size_t length = static_cast<unsigned char>(bytes[8]) |
                        (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  return bytes.substr(10, length);
}

TEST(Npy, Float32MatrixAsNumpyWritesIt) {
  const auto array = torch::arange(6, torch::kFloat32).view({3, 2});
  const std::string bytes = npy_bytes(array);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::string header = header_of(bytes);
  // numpy 1.24: the dict, 21 - len("3") spaces of room for the first dimension, padding to 64.
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 0), 0u);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ((10 + header.size()) % 64, 0u);
  EXPECT_EQ(10 + header.size(), 128u);  // the length numpy 1.24.2 writes for this array
  ASSERT_EQ(bytes.size(), 10 + header.size() + 6 * sizeof(float));
  float values[6];
  std::memcpy(values, bytes.data() + 10 + header.size(), sizeof values);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], static_cast<float>(i));  // C order
}

TEST(Npy, Uint8VectorAndTheShapeOfOneDimension) {
  const auto labels = torch::tensor({7, 0, 255}, torch::kUInt8);
  const std::string bytes = npy_bytes(labels);
  EXPECT_EQ(header_of(bytes).rfind("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", 0),
            0u);
  EXPECT_EQ(bytes.substr(bytes.size() - 3), std::string("\x07\x00\xff", 3));
}

TEST(Npy, ANonContiguousTensorIsWrittenInItsLogicalOrder) {
  const auto transposed = torch::arange(6, torch::kFloat32).view({2, 3}).t();  // (3, 2)
  const std::string bytes = npy_bytes(transposed);
  float values[6];
  std::memcpy(values, bytes.data() + bytes.size() - sizeof values, sizeof values);
  const float expected[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], expected[i]);
}

TEST(Npy, OtherDtypesAreRefused) {
  EXPECT_THROW(npy_bytes(torch::zeros({2}, torch::kInt64)), std::invalid_argument);
}

// The reader.

/// The bytes of an NPY file as numpy lays one out: the preamble of `version`, the header dict of
/// `descr`, `fortran` and `shape` (Python's text, "(2, 3)") padded with spaces to 64 bytes and a
/// newline, then `data`.
std::string npy_file_bytes(const std::string& descr, const std::string& shape,
                           const std::string& data, int version = 1, bool fortran = false) {
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  const size_t preamble = version == 1 ? 10 : 12;
  header.append(63 - (preamble + header.size()) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(version));
  out.push_back('\0');
  for (size_t i = 0; i < preamble - 8; ++i) {
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

/// The bytes of a version 1.0 NPY file whose header is `dict` (and a newline), without data.
std::string npy_header_only(const std::string& dict) {
  const size_t length = dict.size() + 1;
  return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(length & 0xff) +
         static_cast<char>(length >> 8) + dict + "\n";
}

/// `values` as the raw bytes of an NPY file's data (little-endian, as x86).
template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string bytes;
  for (const T value : values) bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
  return bytes;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Expects reading `bytes` as an NPY file to throw a DataError naming the file and holding every
/// one of `parts`.
void expect_refused(const std::string& bytes, const std::vector<std::string>& parts) {
  TempDir dir;
  const std::string path = dir / "a.npy";
  write_file(path, bytes);
  try {
    read_npy(path);
    ADD_FAILURE() << "accepted; wanted: " << parts.front();
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << message << " (wanted: " << part << ")";
    }
  }
}

TEST(NpyReader, ReadsTheFilesNumpyWrote) {
  TempDir dir;
  // numpy 1.24: np.save(f, np.arange(6, dtype='<f8').reshape(2, 3) / 8).
  const std::string f8 = std::string("\x93NUMPY\x01\x00v\x00", 10) +
                         "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" +
                         std::string(58, ' ') + "\n" +
                         raw<double>({0, 0.125, 0.25, 0.375, 0.5, 0.625});
  ASSERT_EQ(f8.size(), 176u);
  write_file(dir / "f8.npy", f8);
  const auto doubles = read_npy(dir / "f8.npy");
  EXPECT_EQ(doubles.scalar_type(), torch::kFloat64);
  EXPECT_EQ(doubles.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(torch::equal(doubles, torch::arange(6, torch::kFloat64).view({2, 3}) / 8));
  // numpy.lib.format.write_array(f, np.array([3, -1, 7], dtype='<i4'), version=(2, 0)).
  write_file(dir / "i4.npy", std::string("\x93NUMPY\x02\x00t\x00\x00\x00", 12) +
                                 "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }" +
                                 std::string(58, ' ') + "\n" + raw<int32_t>({3, -1, 7}));
  const auto ints = read_npy(dir / "i4.npy");
  EXPECT_EQ(ints.scalar_type(), torch::kInt32);
  EXPECT_TRUE(torch::equal(ints, torch::tensor({3, -1, 7}, torch::kInt32)));
  // ... and version=(3, 0), a uint8 matrix.
  write_file(dir / "u1.npy", std::string("\x93NUMPY\x03\x00t\x00\x00\x00", 12) +
                                 "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }" +
                                 std::string(56, ' ') + "\n" + "\x01\x02\x03\x04");
  EXPECT_TRUE(torch::equal(read_npy(dir / "u1.npy"),
                           torch::tensor({1, 2, 3, 4}, torch::kUInt8).view({2, 2})));
}

TEST(NpyReader, ReadsBackWhatTheWriterWrites) {
  TempDir dir;
  const auto floats = torch::rand({3, 28, 28});
  write_npy(dir / "f.npy", floats);
  EXPECT_TRUE(torch::equal(read_npy(dir / "f.npy"), floats));
  const auto bytes = torch::randint(0, 256, {5}, torch::kUInt8);
  write_npy(dir / "b.npy", bytes);
  EXPECT_TRUE(torch::equal(read_npy(dir / "b.npy"), bytes));
  const auto scalar = torch::tensor(2.5f).reshape({});
  write_npy(dir / "s.npy", scalar);
  EXPECT_EQ(read_npy(dir / "s.npy").dim(), 0);
  // Python 2's longs in the shape, which numpy still reads.
  write_file(dir / "long.npy", npy_file_bytes("<i8", "(3L,)", raw<int64_t>({1, 2, 3})));
  EXPECT_TRUE(torch::equal(read_npy(dir / "long.npy"), torch::tensor({1, 2, 3}, torch::kInt64)));
}

TEST(NpyReader, RefusesWhatItCannotReadAsItIs) {
  const std::string four = raw<float>({0, 1, 2, 3});
  expect_refused(npy_file_bytes("<f4", "(2, 2)", four, 1, /*fortran=*/true),
                 {"a Fortran-order (column-major) array", "numpy.ascontiguousarray"});
  expect_refused(npy_file_bytes(">f4", "(4,)", four),
                 {"a big-endian array (dtype '>f4')", "arr.astype('<f4')"});
  expect_refused(npy_file_bytes("<f2", "(4,)", four.substr(0, 8)),
                 {"dtype '<f2' (float16) is not one sae reads", "uint8, int8, int32"});
  expect_refused(npy_file_bytes("|b1", "(4,)", "\x01\x00\x01\x00"), {"dtype '|b1' (bool)"});
  expect_refused(npy_file_bytes("|O", "(1,)", "x"), {"(Python objects, pickled)"});
  expect_refused(
      npy_header_only("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }") +
          std::string(4, '\0'),
      {"a structured dtype"});
}

TEST(NpyReader, RefusesAFileOfAnotherLengthThanItsShape) {
  const std::string data = raw<float>({0, 1, 2, 3, 4, 5});
  const std::string whole = npy_file_bytes("<f4", "(2, 3)", data);
  expect_refused(whole.substr(0, whole.size() - 3),
                 {"header promises a float32 array of shape (2, 3) (24 bytes)",
                  "the file holds 21 bytes after its header", "truncated"});
  expect_refused(whole + "xy", {"2 trailing bytes", "(a float32 array of shape (2, 3), 24 bytes)"});
  expect_refused(whole.substr(0, 40), {"file ends inside its header"});
  expect_refused(whole.substr(0, 9), {"file ends inside its header"});
  expect_refused("", {"not an NPY file"});
  expect_refused("PK\x03\x04 more of a zip", {"a zip archive (.npz?), not an NPY file"});
  expect_refused("{'descr': '<f4'}", {"not an NPY file (it does not start with \\x93NUMPY)"});
  std::string v4 = whole;
  v4[6] = '\x04';
  expect_refused(v4, {"NPY format version 4.0; sae reads 1.0, 2.0 and 3.0"});
}

TEST(NpyReader, ALyingShapeCostsNoMoreThanTheFileHolds) {
  // 4e9 x 28 x 28 bytes would be 3 TB: the reader must notice the file is tiny, not allocate.
  const auto start = std::chrono::steady_clock::now();
  expect_refused(npy_file_bytes("|u1", "(4000000000, 28, 28)", std::string(100, '\0')),
                 {"(3136000000000 bytes) but the file holds 100 bytes"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  expect_refused(npy_file_bytes("|u1", "(4611686018427387904, 4611686018427387904)", ""),
                 {"more than 2^63 bytes"});
  expect_refused(npy_file_bytes("|u1", "(99999999999999999999,)", ""), {"beyond 2^63"});
  // A header longer than numpy itself reads.
  std::string long_header("\x93NUMPY\x02\x00\x00\x00\x01\x00", 12);
  expect_refused(long_header + std::string(100, ' '), {"a header of 65536 bytes", "at most 10000"});
}

TEST(NpyReader, RefusesAHeaderNumpyWouldNotWrite) {
  const auto header = npy_header_only;
  expect_refused(header("{'descr': '<f4', 'fortran_order': False}"), {"no 'shape' key"});
  expect_refused(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"),
                 {"an unknown key 'x'"});
  expect_refused(header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}"),
                 {"the key 'descr' twice"});
  expect_refused(header("{'descr': '<f4', 'fortran_order': False, 'shape': (4)}"),
                 {"a shape of one dimension without its comma"});
  expect_refused(header("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}"),
                 {"neither True nor False"});
  expect_refused(header("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}"),
                 {"no integer at least 0"});
  expect_refused(header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} x"),
                 {"text after the dict's closing brace"});
  expect_refused(header("['descr']"), {"no '{' where the header starts"});
}

TEST(NpyReader, RefusesWhatIsNoRegularFile) {
  TempDir dir;
  EXPECT_THROW(read_npy(dir / "missing.npy"), DataError);
  std::filesystem::create_directory(dir / "folder.npy");
  try {
    read_npy(dir / "folder.npy");
    ADD_FAILURE() << "a folder was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("found a directory"), std::string::npos) << e.what();
  }
}

// NumPy data folders, read by load_split.

/// Expects load_split(`dir`, `split`) to throw a DataError holding every one of `parts`.
void expect_split_refused(const std::string& dir, Split split,
                          const std::vector<std::string>& parts) {
  try {
    load_split(dir, split);
    ADD_FAILURE() << "accepted; wanted: " << parts.front();
  } catch (const DataError& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << e.what() << " (wanted: " << part << ")";
    }
  }
}

TEST(NumpyData, Uint8ImagesWithLabels) {
  TempDir dir;
  const auto train = torch::randint(0, 256, {6, 28, 28}, torch::kUInt8);
  write_npy(dir / "train-images.npy", train);
  write_npy(dir / "train-labels.npy", torch::tensor({0, 1, 2, 0, 1, 2}, torch::kUInt8));
  write_npy(dir / "test-images.npy", torch::randint(0, 256, {2, 28, 28}, torch::kUInt8));
  // int64, numpy's default integer, on the other split; a class only the test split has.
  write_file(dir / "test-labels.npy", npy_file_bytes("<i8", "(2,)", raw<int64_t>({4, 0})));
  EXPECT_EQ(detect_data_form(dir.path().string()), DataForm::kNumpy);
  const Dataset data = load_split(dir.path().string(), Split::kTrain);
  EXPECT_TRUE(torch::equal(data.images, train));
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({0, 1, 2, 0, 1, 2}, torch::kInt64)));
  EXPECT_EQ(data.num_classes, 5);  // both splits' labels count: the largest is 4
  EXPECT_TRUE(data.labelled());
  const Dataset test = load_split(dir.path().string(), Split::kTest);
  EXPECT_EQ(test.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(test.num_classes, 5);
  EXPECT_EQ(describe_split(dir.path().string(), Split::kTest, test),
            "NumPy " + dir.path().string() + " (test: 2 images in 5 classes)");
}

TEST(NumpyData, FloatImagesWithoutLabelsAreUnlabelledBytes) {
  TempDir dir;
  auto floats = torch::zeros({2, 28, 28});
  floats[0][0][0] = 1.0f;
  floats[0][0][1] = 0.5f;  // 127.5: rounded half to even, as torch.round
  floats[1][27][27] = 3.0f / 255.0f;
  write_npy(dir / "train-images.npy", floats);
  // float64 on the other split.
  const std::string zeros(2 * 784 * sizeof(double), '\0');
  write_file(dir / "test-images.npy", npy_file_bytes("<f8", "(2, 28, 28)", zeros));
  const Dataset train = load_split(dir.path().string(), Split::kTrain);
  EXPECT_EQ(train.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(train.images[0][0][0].item<int>(), 255);
  EXPECT_EQ(train.images[0][0][1].item<int>(), 128);
  EXPECT_EQ(train.images[1][27][27].item<int>(), 3);
  EXPECT_EQ(train.num_classes, 0);
  EXPECT_FALSE(train.labelled());
  EXPECT_TRUE(torch::equal(train.labels, torch::zeros({2}, torch::kInt64)));
  const Dataset test = load_split(dir.path().string(), Split::kTest);
  EXPECT_EQ(test.images.sum().item<int64_t>(), 0);
  EXPECT_EQ(describe_split(dir.path().string(), Split::kTrain, train),
            "NumPy " + dir.path().string() + " (train: 2 images, unlabelled)");
}

TEST(NumpyData, BadArraysAreRefusedByName) {
  TempDir dir;
  const std::string d = dir.path().string();
  const std::string images = dir / "train-images.npy";
  write_npy(images, torch::zeros({3, 784}));
  expect_split_refused(d, Split::kTrain,
                       {images, "an array of shape (3, 784); expected images of shape (N, 28, 28)",
                        "arr.reshape(-1, 28, 28)"});
  write_npy(images, torch::zeros({3, 1, 28, 28}));
  expect_split_refused(d, Split::kTrain, {"(3, 1, 28, 28)", "arr[:, 0]"});
  write_file(images, npy_file_bytes("<i4", "(1, 28, 28)", std::string(784 * 4, '\0')));
  expect_split_refused(d, Split::kTrain,
                       {images, "images of dtype int32; expected uint8 (0..255) or float32"});
  auto floats = torch::zeros({2, 28, 28});
  floats[1][2][3] = 1.5f;
  floats[1][5][5] = -1.0f;  // later: the first bad value is told
  write_npy(images, floats);
  expect_split_refused(
      d, Split::kTrain,
      {images, "value 1.5 at index 843 (image 1, row 2, column 3) is outside [0, 1]",
       "divide 8-bit pixels by 255"});
  floats[1][2][3] = std::nanf("");
  write_npy(images, floats);
  expect_split_refused(d, Split::kTrain, {"value nan at index 843"});
  write_file(images, npy_file_bytes("|u1", "(2, 28, 28)", std::string(784, '\0')));
  expect_split_refused(d, Split::kTrain, {images, "the file holds 784 bytes after its header"});
  write_file(images, npy_file_bytes("|u1", "(28, 28, 1)", std::string(784, '\0'), 1, true));
  expect_split_refused(d, Split::kTrain, {images, "Fortran-order"});
  write_npy(images, torch::zeros({0, 28, 28}, torch::kUInt8));
  expect_split_refused(d, Split::kTrain, {"its train split holds no images"});
  expect_split_refused(d, Split::kTest, {"missing test-images.npy"});
}

TEST(NumpyData, BadLabelsAreRefusedByName) {
  TempDir dir;
  const std::string d = dir.path().string();
  write_npy(dir / "train-images.npy", torch::zeros({3, 28, 28}, torch::kUInt8));
  const std::string labels = dir / "train-labels.npy";
  write_npy(labels, torch::tensor({0, 1}, torch::kUInt8));
  expect_split_refused(d, Split::kTrain,
                       {labels, "2 labels but", "train-images.npy holds 3 images"});
  write_npy(labels, torch::tensor({0.0f, 1.0f, 2.0f}));
  expect_split_refused(d, Split::kTrain, {labels, "labels of dtype float32; expected int64"});
  write_npy(labels, torch::zeros({3, 10}, torch::kUInt8));
  expect_split_refused(d, Split::kTrain, {labels, "(3, 10)", "not one-hot rows"});
  write_file(labels, npy_file_bytes("<i8", "(3,)", raw<int64_t>({0, -2, 1})));
  expect_split_refused(d, Split::kTrain, {labels, "label -2 at index 1 is outside 0..65535"});
  // Labels for one split only, where both splits are there: a probe could not be scored.
  write_npy(labels, torch::tensor({0, 1, 1}, torch::kUInt8));
  write_npy(dir / "test-images.npy", torch::zeros({1, 28, 28}, torch::kUInt8));
  expect_split_refused(d, Split::kTest,
                       {"train-labels.npy without test-labels.npy", "both splits or for neither"});
  expect_split_refused(d, Split::kTrain, {"train-labels.npy without test-labels.npy"});
}

}  // namespace
}  // namespace sae
