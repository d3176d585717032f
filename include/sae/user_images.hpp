#pragma once
// Your own images in: any PNG becomes an MNIST-like input, as MNIST made its digits: gray, white
// ink on black, fitted by its bounding box into 20x20 and centred by its centre of mass in 28x28.

#include <torch/torch.h>

#include "sae/idx.hpp"

#include <string>
#include <vector>

namespace sae {

/// Which way the ink goes: MNIST's is white on black. kAuto inverts a mostly light image.
enum class Invert { kAuto, kYes, kNo };

/// The image at `path` (PNG, JPEG or what else stb_image reads; 8 or 16 bit, gray, RGB or RGBA,
/// any size up to 16384 a side) as a (28, 28) float image in [0, 1]. Transparent pixels count as
/// paper. Throws std::runtime_error naming the file when it is missing, not an image, of no or
/// too many pixels, truncated, or blank.
torch::Tensor load_user_image(const std::string& path, Invert invert);

/// The files `paths` name: files as given, folders as their *.png files in name order.
/// Throws std::runtime_error for a path that does not exist or a folder without PNGs.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths);

/// Every file read first (so a bad one writes nothing), then as a Dataset of uint8 images
/// (N, 28, 28), as MNIST stores them, with label 0.
Dataset load_user_images(const std::vector<std::string>& files, Invert invert);

}  // namespace sae
