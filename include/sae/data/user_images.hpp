#pragma once
// Your own images in: any image file becomes an MNIST-like input, as MNIST made its digits: gray,
// white ink on black, fitted by its bounding box into 20x20 and centred by its centre of mass in
// 28x28. Which files count as images, by name, is said here once, for --images and ImageFolder.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"

#include <string>
#include <vector>

namespace sae {

/// Which way the ink goes: MNIST's is white on black. kAuto inverts a mostly light image.
enum class Invert { kAuto, kYes, kNo };

/// The image at `path` as a (28, 28) float image in [0, 1]. Decoded by its content, whatever its
/// name: PNG (8 or 16 bit, any colour type; libpng checks it whole, CRCs included, first), JPEG,
/// GIF (its first frame), BMP, TGA, PSD, PIC and binary PNM (P5, P6), by stb_image; up to 8192 a
/// side and 256 MiB of decoded samples. Transparent pixels count as paper. Throws
/// std::runtime_error naming the file when it is missing, not a regular file, of another format
/// (TIFF, WebP, Radiance HDR, ...), of no or too many pixels, truncated, corrupt, or blank; it
/// never opens a FIFO.
torch::Tensor load_user_image(const std::string& path, Invert invert);

/// Whether the name of `path` says it is an image, by its extension in any case: one of
/// image_extensions(). Those of formats load_user_image does not decode (.tif, .tiff, .webp, .hdr,
/// .pbm) count too, so that a folder's such file is refused by its content, never skipped.
bool is_image_name(const std::string& path);
/// The extensions that make a name an image's, lower case: ".bmp", ".gif", ".jpeg", ...
const std::vector<std::string>& image_extensions();

/// The entries of one folder by what their names say, each list in name order (bytewise, as
/// Python's sorted()).
struct FolderListing {
  std::vector<std::string> images;   ///< regular files named as images (is_image_name)
  std::vector<std::string> folders;  ///< subfolders (symlinks to folders included)
  std::vector<std::string> skipped;  ///< other entries: files not named as images
};
/// Lists the folder `dir`, its entries' paths being `dir`/name. Throws std::runtime_error naming
/// the entry for a file named as an image that is no regular file (a dangling symlink, a FIFO),
/// and naming `dir` when it cannot be listed.
FolderListing list_folder(const std::string& dir);
/// What a warning or an error says of `entries` that are not images by their names: "2 entries
/// not named as images (notes.txt, sub/); images are files named .bmp ... .webp (any case)".
std::string not_images_note(const std::vector<std::string>& entries);

/// The files `paths` name: files as given (any name: the content says the format), folders as
/// their image files (list_folder) in name order; a folder's other files and its subfolders are
/// skipped with a warning (spdlog) that counts them. Throws std::runtime_error naming what a path
/// is when it is no file (missing, a symlink loop, a FIFO), and for a folder without images.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths);

/// Every file read first (so a bad one writes nothing), then as a Dataset of uint8 images
/// (N, 28, 28), as MNIST stores them, unlabelled (num_classes 0, labels 0).
Dataset load_user_images(const std::vector<std::string>& files, Invert invert);

}  // namespace sae
