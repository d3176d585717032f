#pragma once
// Datasets as tensors: one loader for the three forms a data folder may hold (IDX files,
// torchvision's ImageFolder, NumPy arrays), the validation split, and batching.

#include <torch/torch.h>

#include "sae/data/idx_file.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sae {

/// Which half of a data folder to read.
enum class Split { kTrain, kTest };
/// The splits by the names the command line uses: "train" and "test".
inline const std::map<std::string, Split>& split_names() {
  static const std::map<std::string, Split> names = {{"test", Split::kTest},
                                                     {"train", Split::kTrain}};
  return names;
}

/// Images and labels of one split. Images stay bytes: a batch becomes float only when used.
struct Dataset {
  torch::Tensor images;  // (N, 28, 28) uint8
  torch::Tensor labels;  // (N) int64, 0..num_classes-1; all 0 when unlabelled
  /// How many classes the labels tell apart, the same for both splits of a folder: 10 for IDX,
  /// the class folders of an ImageFolder, the largest label of either labels file + 1 for NumPy.
  /// 0 for unlabelled images (NumPy without labels files, --images): no linear probe.
  int64_t num_classes = kIdxClasses;
  /// The classes' names in label order where the data names them (ImageFolder's folders).
  std::vector<std::string> class_names{};
  /// Number of images.
  int64_t size() const { return images.size(0); }
  /// Whether the labels mean anything.
  bool labelled() const { return num_classes > 0; }
};

/// The forms a data folder may hold.
enum class DataForm {
  kIdx,          ///< train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-..., raw or .gz
  kImageFolder,  ///< train/<class>/*.png and test/<class>/*.png, as torchvision's ImageFolder
  kNumpy,        ///< train-images.npy, test-images.npy (N, 28, 28), labels files optional
};
/// The form's name for a person: "IDX", "ImageFolder", "NumPy".
const char* data_form_name(DataForm form);
/// Which form the folder `dir` holds, by the names in it. Throws DataError naming `dir` when it
/// is missing or a file, and when it holds two forms or none, saying what it found and what
/// each form needs.
DataForm detect_data_form(const std::string& dir);
/// One log line on `data`, the `split` of `dir`: "ImageFolder data/pets (train: 1200 images in 3
/// classes: cat, dog, fox)".
std::string describe_split(const std::string& dir, Split split, const Dataset& data);

/// Reads an IDX3 image file (magic 0x00000803, 28x28 images), raw or .gz, validating it fully.
torch::Tensor read_idx_images(const std::string& path);  // (N, 28, 28) uint8
/// Reads an IDX1 label file (magic 0x00000801, labels 0..9), raw or .gz, validating it fully.
torch::Tensor read_idx_labels(const std::string& path);  // (N) int64
/// Reads one split from `dir`, in the form it holds (detect_data_form): IDX files, each as `name`
/// or `name.gz`; an ImageFolder's images, each made MNIST-like as --images makes them
/// (load_user_image), labelled by their class folders sorted by name; NumPy arrays, uint8 or
/// float in [0, 1] (taken to uint8 as round(x * 255)). Throws DataError naming the file and
/// what is wrong with it, and for a split of no images.
Dataset load_split(const std::string& dir, Split split);

/// A training split and the images held out of it to score each epoch on.
struct TrainValSplit {
  Dataset train;  ///< the rest, in their original order
  Dataset val;    ///< the held-out images, in their original order
};
/// Holds `val_count` images of `train` out, chosen by a permutation that depends only on `seed`
/// (not epoch_order's), so that every machine and every resume holds out the same ones, and a
/// larger count holds out more of the same. A count of 0 leaves `train` as it is.
TrainValSplit hold_out(const Dataset& train, int64_t val_count, uint64_t seed);
/// How many of `n` training images --val-fraction `val_fraction` or --val-size `val_size` holds
/// out: the size, or the fraction of n rounded down; 0 for neither. Throws UsageError for a
/// fraction outside [0, 1), a negative size, both given, a fraction that holds out none, and a
/// count that leaves no image to train on.
int64_t val_count(int64_t n, double val_fraction, int64_t val_size);

/// The order of `n` items in `epoch`: a shuffle that depends only on (seed, epoch), so any
/// epoch's order can be recreated without replaying the ones before it.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);
/// Gathers images at `indices` as float in [0, 1] (x / 255, as torchvision's ToTensor).
torch::Tensor to_float_batch(const torch::Tensor& images, const torch::Tensor& indices);
/// Converts a slice of uint8 images (B, 28, 28) to float (B, 1, 28, 28) in [0, 1].
torch::Tensor to_float_batch(const torch::Tensor& images);

}  // namespace sae
