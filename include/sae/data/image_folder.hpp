#pragma once
// torchvision's ImageFolder layout as a Dataset: DIR/<split>/<class>/.../<image>, the class
// folders sorted by name giving the labels 0..C-1, each image made MNIST-like as --images makes it.

#include "sae/data/dataset.hpp"

#include <string>
#include <vector>

namespace sae {

/// The names of the class folders in the split folder `split_dir` (DIR/train), sorted as
/// ImageFolder sorts them (Python's sorted(): by code point, so bytewise in UTF-8). Throws
/// DataError naming `split_dir` when it is missing or cannot be listed.
std::vector<std::string> image_folder_classes(const std::string& split_dir);

/// Reads DIR/train or DIR/test as torchvision's ImageFolder does: every file named as an image
/// (is_image_name) in each class folder and its subfolders, in the order of its make_dataset
/// (folders by path, files by name), labelled by the class's place among the sorted names, each
/// decoded and prepared by load_user_image (Invert::kAuto) and stored as uint8. Other files are
/// skipped with a warning (spdlog) that counts them. Throws DataError naming what is wrong: a
/// missing split folder, one without class folders, a class folder without images, an image
/// outside any class folder, a folder reached twice through a symlink, class names that differ
/// between train/ and test/ (a label would mean another class in each), or a bad image.
Dataset load_image_folder(const std::string& dir, Split split);

}  // namespace sae
