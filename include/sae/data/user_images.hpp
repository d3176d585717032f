#pragma once
// Your own images in: any PNG becomes an MNIST-like input, as MNIST made its digits: gray, white
// ink on black, fitted by its bounding box into 20x20 and centred by its centre of mass in 28x28.

#include <torch/torch.h>

#include "sae/data/dataset.hpp"

#include <string>
#include <vector>

namespace sae {

/// Which way the ink goes: MNIST's is white on black. kAuto inverts a mostly light image.
enum class Invert { kAuto, kYes, kNo };

/// The PNG at `path` (8 or 16 bit, gray, RGB, palette or alpha; up to 8192 a side and 256 MiB
/// of samples) as a (28, 28) float image in [0, 1]. Transparent pixels count as paper. Throws
/// std::runtime_error naming the file when it is missing, not a regular file, not a PNG, of no
/// or too many pixels, truncated, corrupt (a CRC included), or blank; it never opens a FIFO.
torch::Tensor load_user_image(const std::string& path, Invert invert);

/// The files `paths` name: files as given, folders as their *.png files in name order. Throws
/// std::runtime_error naming what a path is when it is no file (missing, a symlink loop, a FIFO).
std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths);

/// Every file read first (so a bad one writes nothing), then as a Dataset of uint8 images
/// (N, 28, 28), as MNIST stores them, with label 0.
Dataset load_user_images(const std::vector<std::string>& files, Invert invert);

}  // namespace sae
