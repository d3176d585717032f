#include "sae/data/image_folder.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sae/data/user_images.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <utility>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr size_t kClassesNamed = 5;  // of the classes only one split holds, in an error

const char* folder_name(Split split) {
  return split == Split::kTrain ? "train" : "test";
}

/// The images of one folder, and the folder's path, which orders it among the others.
struct FolderImages {
  std::string path;
  std::vector<std::string> images;
};

/// Collects the images of the folder `dir` and of its subfolders into `found`, the entries not
/// named as images into `skipped`. Symlinks to folders are followed, as ImageFolder's
/// os.walk(followlinks=True) does; `seen` holds the folders read, so that a loop is refused
/// instead of followed for ever.
void collect(const std::string& dir, std::vector<FolderImages>& found,
             std::vector<std::string>& skipped, std::set<std::pair<dev_t, ino_t>>& seen) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw DataError(fmt::format("{}: cannot read this folder: {}", dir, std::strerror(errno)));
  }
  if (!seen.insert({st.st_dev, st.st_ino}).second) {
    throw DataError(fmt::format(
        "{}: a folder reached twice (through a symlink): ImageFolder would read its images twice, "
        "or for ever in a loop; replace the symlink by a copy, or remove it",
        dir));
  }
  FolderListing listing = list_folder(dir);
  skipped.insert(skipped.end(), listing.skipped.begin(), listing.skipped.end());
  found.push_back({dir, std::move(listing.images)});
  for (const std::string& folder : listing.folders) collect(folder, found, skipped, seen);
}

/// The names of `names` not in `others` (both sorted), for an error: "fox, wolf".
std::string only_in(const std::vector<std::string>& names, const std::vector<std::string>& others) {
  std::vector<std::string> only;
  std::set_difference(names.begin(), names.end(), others.begin(), others.end(),
                      std::back_inserter(only));
  std::string text;
  for (size_t i = 0; i < only.size() && i < kClassesNamed; ++i) {
    text += (i > 0 ? ", " : "") + only[i];
  }
  if (only.size() > kClassesNamed) text += fmt::format(", ... ({} in all)", only.size());
  return text.empty() ? "none" : text;
}

/// Throws DataError naming `dir` unless its other split, where it has one, holds the classes
/// `classes` of `split`.
void check_same_classes(const std::string& dir, Split split,
                        const std::vector<std::string>& classes) {
  const Split other = split == Split::kTrain ? Split::kTest : Split::kTrain;
  const std::string other_dir = (fs::path(dir) / folder_name(other)).string();
  std::error_code ec;
  if (!fs::is_directory(other_dir, ec)) return;  // its own load says it is missing
  const std::vector<std::string> other_classes = image_folder_classes(other_dir);
  if (other_classes == classes) return;
  const bool train = split == Split::kTrain;
  const auto& train_classes = train ? classes : other_classes;
  const auto& test_classes = train ? other_classes : classes;
  throw DataError(fmt::format(
      "{}: train/ and test/ hold different class folders (only in train/: {}; only in test/: "
      "{}): ImageFolder numbers each split's classes by their sorted names, so a label would "
      "mean another class in each; give both splits the same class folders",
      dir, only_in(train_classes, test_classes), only_in(test_classes, train_classes)));
}

/// load_image_folder, with the errors of the image readers (std::runtime_error) as they come.
Dataset read_image_folder(const std::string& dir, Split split) {
  const std::string split_dir = (fs::path(dir) / folder_name(split)).string();
  const std::vector<std::string> classes = image_folder_classes(split_dir);
  check_same_classes(dir, split, classes);

  std::vector<std::string> skipped;
  const FolderListing top = list_folder(split_dir);
  if (!top.images.empty()) {
    throw DataError(fmt::format(
        "{}: an image outside any class folder; ImageFolder reads {}/<class>/ only, and labels "
        "an image by its class folder: move it into one",
        top.images.front(), folder_name(split)));
  }
  skipped.insert(skipped.end(), top.skipped.begin(), top.skipped.end());

  std::vector<std::string> files;
  std::vector<int64_t> labels;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (size_t label = 0; label < classes.size(); ++label) {
    const std::string class_dir = (fs::path(split_dir) / classes[label]).string();
    std::vector<FolderImages> found;
    const size_t skipped_before = skipped.size();
    collect(class_dir, found, skipped, seen);
    // torchvision's make_dataset: sorted(os.walk(...)) orders the folders by path.
    std::sort(found.begin(), found.end(),
              [](const FolderImages& a, const FolderImages& b) { return a.path < b.path; });
    const size_t files_before = files.size();
    for (const FolderImages& folder : found) {
      files.insert(files.end(), folder.images.begin(), folder.images.end());
    }
    if (files.size() == files_before) {
      const std::vector<std::string> others(skipped.begin() + skipped_before, skipped.end());
      throw DataError(fmt::format(
          "{}: a class folder without images{}; ImageFolder refuses one too: add its images, or "
          "remove the folder",
          class_dir, others.empty() ? "" : " (it holds " + not_images_note(others) + ")"));
    }
    labels.resize(files.size(), static_cast<int64_t>(label));
  }
  if (!skipped.empty()) spdlog::warn("{}: skipped {}", split_dir, not_images_note(skipped));

  Dataset data = load_user_images(files, Invert::kAuto);
  data.labels = torch::tensor(labels, torch::kInt64);
  data.num_classes = static_cast<int64_t>(classes.size());
  data.class_names = classes;
  return data;
}

}  // namespace

std::vector<std::string> image_folder_classes(const std::string& split_dir) {
  std::error_code ec;
  if (!fs::is_directory(split_dir, ec)) {
    throw DataError(fmt::format(
        "{}: missing; an ImageFolder data folder holds train/<class>/ and test/<class>/ folders "
        "of images",
        split_dir));
  }
  FolderListing listing;
  try {
    listing = list_folder(split_dir);
  } catch (const std::runtime_error& e) {
    throw DataError(e.what());
  }
  std::vector<std::string> classes;
  for (const std::string& folder : listing.folders) {
    classes.push_back(fs::path(folder).filename().string());
  }
  if (classes.empty()) {
    throw DataError(fmt::format(
        "{}: no class folders; ImageFolder reads {}/<class>/*.png (or .jpg, ...), one folder of "
        "images to a class",
        split_dir, fs::path(split_dir).filename().string()));
  }
  return classes;  // sorted: list_folder sorts
}

Dataset load_image_folder(const std::string& dir, Split split) {
  try {
    return read_image_folder(dir, split);
  } catch (const DataError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw DataError(e.what());  // each names its file already
  }
}

}  // namespace sae
