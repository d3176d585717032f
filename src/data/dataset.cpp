#include "sae/data/dataset.hpp"

#include <fmt/format.h>

#include "sae/base/errors.hpp"
#include "sae/data/image_folder.hpp"
#include "sae/data/npy.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

namespace sae {
namespace {

namespace fs = std::filesystem;

// The files of each form, as the form's readers name them.
constexpr const char* kIdxFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
constexpr const char* kSplitFolders[] = {"train", "test"};  // ImageFolder's
constexpr const char* kNumpyFiles[] = {"train-images.npy", "train-labels.npy", "test-images.npy",
                                       "test-labels.npy"};
constexpr size_t kEntriesNamed = 5;        // of a folder that holds no form, in the error
constexpr size_t kClassesNamed = 10;       // in describe_split's line
constexpr int64_t kMaxNumpyLabel = 65535;  // a label is a class's index, not any number
constexpr double kFloorSlack = 1e-9;       // 0.29 * 100 is 28.999999999999996 in doubles
// epoch_order's seeds are seed * kGolden + epoch; hold_out's goes through splitmix64 from here,
// so that the held-out images are no epoch's first ones.
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kHoldOutStream = 0x76616c6964617465ULL;  // "validate"

/// SplitMix64's finalizer: a seed that shares no simple relation with its input.
uint64_t splitmix64(uint64_t x) {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// 0..n-1 shuffled by mt19937_64 from `rng_seed`.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t rng_seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // Fisher-Yates with our own index draw: std::shuffle and uniform_int_distribution are
  // implementation-defined, and runs must reproduce across standard libraries.
  std::mt19937_64 rng(rng_seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

bool path_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

/// The names of each form that `dir` holds.
struct FoundForms {
  std::vector<std::string> idx, image_folder, numpy;
  /// The forms with a name found.
  std::vector<DataForm> forms() const {
    std::vector<DataForm> found;
    if (!idx.empty()) found.push_back(DataForm::kIdx);
    if (!image_folder.empty()) found.push_back(DataForm::kImageFolder);
    if (!numpy.empty()) found.push_back(DataForm::kNumpy);
    return found;
  }
  const std::vector<std::string>& names(DataForm form) const {
    return form == DataForm::kIdx ? idx : form == DataForm::kImageFolder ? image_folder : numpy;
  }
};

FoundForms find_forms(const std::string& dir) {
  FoundForms found;
  for (const char* name : kIdxFiles) {
    for (const std::string& file : {std::string(name), std::string(name) + ".gz"}) {
      if (path_exists(fs::path(dir) / file)) found.idx.push_back(file);
    }
  }
  for (const char* name : kSplitFolders) {
    std::error_code ec;
    if (fs::is_directory(fs::path(dir) / name, ec))
      found.image_folder.push_back(std::string(name) + "/");
  }
  for (const char* name : kNumpyFiles) {
    if (path_exists(fs::path(dir) / name)) found.numpy.push_back(name);
  }
  return found;
}

/// What `dir` holds, for the error of a folder of no form: "it is empty", "it holds a, b/".
std::string contents_of(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code kind;
    names.push_back(it->path().filename().string() + (it->is_directory(kind) ? "/" : ""));
  }
  if (names.empty()) return "it is empty";
  std::sort(names.begin(), names.end());
  const size_t total = names.size();
  if (total > kEntriesNamed) names.resize(kEntriesNamed);
  return fmt::format("it holds {}{}", joined(names),
                     total > kEntriesNamed ? fmt::format(", ... ({} in all)", total) : "");
}

std::string find_file(const std::string& dir, const std::string& name) {
  const fs::path raw = fs::path(dir) / name;
  const fs::path gz = fs::path(dir) / (name + ".gz");
  if (path_exists(gz)) return gz.string();
  if (path_exists(raw)) return raw.string();
  throw DataError(fmt::format(
      "{}: missing {} (or {}.gz); run scripts/fetch-data.sh, or pass --data-dir", dir, name, name));
}

Dataset load_idx(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  Dataset data{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (data.images.size(0) != data.labels.size(0)) {
    throw DataError(fmt::format("{}: {} images but {} has {} labels", images_path,
                                data.images.size(0), labels_path, data.labels.size(0)));
  }
  return data;
}

/// numpy's name of a dtype that read_npy returns.
const char* numpy_name(torch::ScalarType type) {
  switch (type) {
    case torch::kUInt8:
      return "uint8";
    case torch::kInt8:
      return "int8";
    case torch::kInt32:
      return "int32";
    case torch::kInt64:
      return "int64";
    case torch::kFloat32:
      return "float32";
    case torch::kFloat64:
      return "float64";
    default:
      return c10::toString(type);
  }
}

/// The shape of `array` as Python writes it: "(60000, 784)", "(5,)".
std::string shape_text(const torch::Tensor& array) {
  std::string text = "(";
  for (int64_t d = 0; d < array.dim(); ++d) {
    text += std::to_string(array.size(d));
    text += array.dim() == 1 ? "," : (d + 1 < array.dim() ? ", " : "");
  }
  return text + ")";
}

/// The images of a NumPy folder's images file `path`, read as (N, 28, 28) uint8.
torch::Tensor numpy_images(const std::string& path) {
  const torch::Tensor array = read_npy(path);
  if (array.dim() != 3 || array.size(1) != kImageSide || array.size(2) != kImageSide) {
    const std::string hint =
        array.dim() == 2 && array.size(1) == kImageSide * kImageSide
            ? "; reshape it: arr.reshape(-1, 28, 28)"
        : array.dim() == 4 && array.size(1) == 1 ? "; drop its channel axis: arr[:, 0]"
        : array.dim() == 4 && array.size(3) == 1 ? "; drop its channel axis: arr[..., 0]"
                                                 : "";
    throw DataError(fmt::format("{}: an array of shape {}; expected images of shape (N, 28, 28){}",
                                path, shape_text(array), hint));
  }
  if (array.scalar_type() == torch::kUInt8) return array;
  if (array.scalar_type() != torch::kFloat32 && array.scalar_type() != torch::kFloat64) {
    throw DataError(fmt::format(
        "{}: images of dtype {}; expected uint8 (0..255) or float32/float64 in [0, 1]: save "
        "them with arr.astype(numpy.uint8), or as floats divided by their maximum",
        path, numpy_name(array.scalar_type())));
  }
  const torch::Tensor outside = array.lt(0).logical_or(array.gt(1)).logical_or(array.isnan());
  if (outside.any().item<bool>()) {
    const int64_t at = outside.flatten().to(torch::kUInt8).argmax().item<int64_t>();
    const double value = array.flatten()[at].item<double>();
    const int64_t pixels = kImageSide * kImageSide;
    throw DataError(fmt::format(
        "{}: value {} at index {} (image {}, row {}, column {}) is outside [0, 1]; float images "
        "are in [0, 1]: divide 8-bit pixels by 255, or save them as uint8",
        path, value, at, at / pixels, at % pixels / kImageSide, at % kImageSide));
  }
  return array.mul(255.0).round().clamp(0, 255).to(torch::kUInt8);
}

/// The labels file `path` as (N) int64, checked: one dimension, an integer dtype, 0 or more, and
/// `count` of them unless `count` is negative.
torch::Tensor numpy_labels(const std::string& path, int64_t count, const std::string& images) {
  const torch::Tensor array = read_npy(path);
  const auto type = array.scalar_type();
  if (type != torch::kInt64 && type != torch::kInt32 && type != torch::kUInt8) {
    throw DataError(fmt::format(
        "{}: labels of dtype {}; expected int64, int32 or uint8 class indices: save them with "
        "arr.astype(numpy.int64)",
        path, numpy_name(type)));
  }
  if (array.dim() != 1) {
    throw DataError(fmt::format("{}: labels of shape {}; expected one dimension, (N){}", path,
                                shape_text(array),
                                array.dim() == 2 && array.size(1) == 1 ? ": arr.reshape(-1)"
                                : array.dim() == 2 ? " of class indices, not one-hot rows: "
                                                     "arr.argmax(axis=1)"
                                                   : ""));
  }
  if (count >= 0 && array.size(0) != count) {
    throw DataError(
        fmt::format("{}: {} labels but {} holds {} images", path, array.size(0), images, count));
  }
  const torch::Tensor labels = array.to(torch::kInt64);
  const torch::Tensor outside = labels.lt(0).logical_or(labels.gt(kMaxNumpyLabel));
  if (outside.any().item<bool>()) {
    const int64_t at = outside.to(torch::kUInt8).argmax().item<int64_t>();
    throw DataError(
        fmt::format("{}: label {} at index {} is outside 0..{}; labels are class indices 0..C-1",
                    path, labels[at].item<int64_t>(), at, kMaxNumpyLabel));
  }
  return labels;
}

Dataset load_numpy(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "test";
  const std::string other = split == Split::kTrain ? "test" : "train";
  const auto file = [&](const std::string& name) { return (fs::path(dir) / name).string(); };
  const std::string images_path = file(prefix + "-images.npy");
  if (!path_exists(images_path)) {
    throw DataError(
        fmt::format("{}: missing {}-images.npy; a NumPy data folder holds train-images.npy and "
                    "test-images.npy of shape (N, 28, 28)",
                    dir, prefix));
  }
  Dataset data;
  data.images = numpy_images(images_path);
  const int64_t n = data.images.size(0);
  // Labels for both splits or neither, where both splits are there: a probe trained on one
  // split's labels is scored on the other's.
  const std::string labels_path = file(prefix + "-labels.npy");
  const std::string other_labels_path = file(other + "-labels.npy");
  const bool other_split = path_exists(file(other + "-images.npy"));
  const bool labelled = path_exists(labels_path);
  if (other_split && labelled != path_exists(other_labels_path)) {
    const std::string& present = labelled ? labels_path : other_labels_path;
    const std::string& absent = labelled ? other_labels_path : labels_path;
    throw DataError(fmt::format(
        "{}: {} without {}; a NumPy data folder has labels for both splits or for neither: add "
        "the one, or remove the other",
        dir, fs::path(present).filename().string(), fs::path(absent).filename().string()));
  }
  if (!labelled) {
    data.labels = torch::zeros({n}, torch::kInt64);
    data.num_classes = 0;
    return data;
  }
  data.labels = numpy_labels(labels_path, n, images_path);
  int64_t largest = n > 0 ? data.labels.max().item<int64_t>() : 0;
  if (other_split) {  // the classes of both splits, so that both count them alike
    const torch::Tensor others = numpy_labels(other_labels_path, -1, "");
    if (others.numel() > 0) largest = std::max(largest, others.max().item<int64_t>());
  }
  data.num_classes = largest + 1;
  return data;
}

}  // namespace

const char* data_form_name(DataForm form) {
  switch (form) {
    case DataForm::kIdx:
      return "IDX";
    case DataForm::kImageFolder:
      return "ImageFolder";
    case DataForm::kNumpy:
      return "NumPy";
  }
  return "?";
}

DataForm detect_data_form(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw DataError(fmt::format(
        "{}: a file, not a data folder; pass the folder that holds the data (IDX files, train/ "
        "and test/ image folders, or .npy arrays)",
        dir));
  }
  if (!fs::is_directory(dir, ec)) {
    throw DataError(fmt::format(
        "{}: data folder not found; run scripts/fetch-data.sh, or pass --data-dir", dir));
  }
  const FoundForms found = find_forms(dir);
  const std::vector<DataForm> forms = found.forms();
  if (forms.size() == 1) return forms.front();
  if (forms.empty()) {
    throw DataError(fmt::format(
        "{}: no data of a form sae reads ({}); expected one of: IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each raw or .gz: scripts/fetch-data.sh downloads MNIST so), an "
        "ImageFolder (train/<class>/*.png and test/<class>/*.png, or .jpg, ..., as torchvision's), "
        "or NumPy arrays (train-images.npy and test-images.npy of shape (N, 28, 28), uint8 or "
        "float in [0, 1], with train-labels.npy and test-labels.npy or without)",
        dir, contents_of(dir)));
  }
  std::vector<std::string> parts;
  for (const DataForm form : forms) {
    parts.push_back(fmt::format("{} ({})", data_form_name(form), joined(found.names(form))));
  }
  throw DataError(fmt::format(
      "{}: data of {} forms: {}; sae reads one form to a folder: move the others into folders of "
      "their own",
      dir, forms.size(), joined(parts)));
}

std::string describe_split(const std::string& dir, Split split, const Dataset& data) {
  std::string classes;
  if (!data.labelled()) {
    classes = ", unlabelled";
  } else if (!data.class_names.empty()) {
    std::vector<std::string> names = data.class_names;
    if (names.size() > kClassesNamed) names.resize(kClassesNamed);
    classes = fmt::format(" in {} classes: {}{}", data.num_classes, joined(names),
                          data.class_names.size() > kClassesNamed ? ", ..." : "");
  } else {
    classes = fmt::format(" in {} classes", data.num_classes);
  }
  return fmt::format("{} {} ({}: {} images{})", data_form_name(detect_data_form(dir)), dir,
                     split == Split::kTrain ? "train" : "test", data.size(), classes);
}

torch::Tensor read_idx_images(const std::string& path) {
  IdxImages file = read_idx_image_file(path);
  return torch::from_blob(file.pixels.data(), {file.count, kImageSide, kImageSide}, torch::kUInt8)
      .clone();
}

torch::Tensor read_idx_labels(const std::string& path) {
  std::vector<uint8_t> labels = read_idx_label_file(path);
  return torch::from_blob(labels.data(), {static_cast<int64_t>(labels.size())}, torch::kUInt8)
      .to(torch::kInt64);
}

Dataset load_split(const std::string& dir, Split split) {
  Dataset data;
  switch (detect_data_form(dir)) {
    case DataForm::kIdx:
      data = load_idx(dir, split);
      break;
    case DataForm::kImageFolder:
      data = load_image_folder(dir, split);
      break;
    case DataForm::kNumpy:
      data = load_numpy(dir, split);
      break;
  }
  if (data.size() == 0) {
    throw DataError(fmt::format("{}: its {} split holds no images", dir,
                                split == Split::kTrain ? "train" : "test"));
  }
  return data;
}

TrainValSplit hold_out(const Dataset& train, int64_t val_count, uint64_t seed) {
  const int64_t n = train.size();
  TORCH_CHECK(val_count >= 0 && (val_count == 0 || val_count < n), "hold_out: ", val_count, " of ",
              n, " images leaves none to train on");
  const auto subset = [&](const torch::Tensor& indices) {
    Dataset part = train;  // the classes too
    part.images = train.images.index_select(0, indices);
    part.labels = train.labels.index_select(0, indices);
    return part;
  };
  if (val_count == 0) return {train, subset(torch::empty({0}, torch::kInt64))};
  const std::vector<int64_t> order = seeded_permutation(n, splitmix64(seed ^ kHoldOutStream));
  std::vector<bool> held(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < val_count; ++i) held[order[i]] = true;
  std::vector<int64_t> kept, val;
  for (int64_t i = 0; i < n; ++i) (held[i] ? val : kept).push_back(i);
  return {subset(torch::tensor(kept, torch::kInt64)), subset(torch::tensor(val, torch::kInt64))};
}

int64_t val_count(int64_t n, double val_fraction, int64_t val_size) {
  if (!(val_fraction >= 0 && val_fraction < 1)) {
    throw UsageError(
        fmt::format("--val-fraction {}: expected a fraction in [0, 1), e.g. 0.1", val_fraction));
  }
  if (val_size < 0) {
    throw UsageError(fmt::format("--val-size {}: expected 0 (none) or more images", val_size));
  }
  if (val_size > 0 && val_fraction > 0) {
    throw UsageError(fmt::format(
        "--val-size {} and --val-fraction {} both say how many images to hold out; give one",
        val_size, val_fraction));
  }
  if (val_size == 0 && val_fraction == 0) return 0;
  const double exact = val_fraction * static_cast<double>(n);
  const int64_t count =
      val_size > 0 ? val_size
                   : static_cast<int64_t>(std::floor(exact + kFloorSlack * std::max(1.0, exact)));
  if (count == 0) {
    throw UsageError(fmt::format(
        "--val-fraction {} of the {} training images holds out none; pass a larger fraction or "
        "--val-size",
        val_fraction, n));
  }
  if (count >= n) {
    throw UsageError(fmt::format(
        "--val-{} holds out {} of the {} training images, leaving none to train on; hold out "
        "fewer",
        val_size > 0 ? "size" : "fraction", count, n));
  }
  return count;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  return seeded_permutation(n, seed * kGolden + static_cast<uint64_t>(epoch));
}

torch::Tensor to_float_batch(const torch::Tensor& images, const torch::Tensor& indices) {
  return to_float_batch(images.index_select(0, indices));
}

torch::Tensor to_float_batch(const torch::Tensor& images) {
  return images.unsqueeze(1).to(torch::kFloat32).div_(255.0);  // (B, 1, 28, 28)
}

}  // namespace sae
