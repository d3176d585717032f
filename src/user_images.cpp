#include "sae/user_images.hpp"

#include <fmt/format.h>
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include "sae/idx_file.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

namespace sae {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxSide = 16384;      // a larger header is refused before any pixel is decoded
constexpr int kBox = 20;             // MNIST fits each digit into 20x20 ...
constexpr int kSide = kImageSide;    // ... and centres it in 28x28
constexpr float kInk = 0.25f;        // a pixel this bright (after inversion) is part of the digit
constexpr float kLightPaper = 0.5f;  // kAuto inverts an image whose mean is above this

std::runtime_error bad(const std::string& path, const std::string& why) {
  return std::runtime_error(fmt::format("{}: {}", path, why));
}

/// A PNG's width and height as its header states them (stb_image refuses an oversized header
/// without saying so), or nothing for another file.
std::optional<std::pair<uint32_t, uint32_t>> png_header_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[24] = {};
  if (!in.read(reinterpret_cast<char*>(head), sizeof head)) return std::nullopt;
  if (std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0 || std::memcmp(head + 12, "IHDR", 4) != 0) {
    return std::nullopt;
  }
  const auto big_endian = [&](int at) {
    return static_cast<uint32_t>(head[at]) << 24 | static_cast<uint32_t>(head[at + 1]) << 16 |
           static_cast<uint32_t>(head[at + 2]) << 8 | head[at + 3];
  };
  return std::make_pair(big_endian(16), big_endian(20));
}

/// Gray in [0, 1], alpha composited over white paper: (h * w).
std::vector<float> read_gray(const std::string& path, int& width, int& height) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw bad(path, "no such file");
  if (const auto size = png_header_size(path);
      size &&
      (size->first < 1 || size->second < 1 || size->first > kMaxSide || size->second > kMaxSide)) {
    throw bad(path, fmt::format("{}x{} pixels; expected 1 to {} on each side", size->first,
                                size->second, kMaxSide));
  }
  int channels = 0;
  if (stbi_info(path.c_str(), &width, &height, &channels) == 0) {
    throw bad(path, fmt::format("not an image that stb_image reads ({})", stbi_failure_reason()));
  }
  if (width < 1 || height < 1 || width > kMaxSide || height > kMaxSide) {
    throw bad(path,
              fmt::format("{}x{} pixels; expected 1 to {} on each side", width, height, kMaxSide));
  }
  const std::unique_ptr<stbi_uc, void (*)(void*)> rgba(
      stbi_load(path.c_str(), &width, &height, &channels, /*desired_channels=*/4), stbi_image_free);
  if (!rgba) throw bad(path, fmt::format("cannot decode it ({})", stbi_failure_reason()));
  std::vector<float> gray(static_cast<size_t>(width) * height);
  for (size_t i = 0; i < gray.size(); ++i) {
    const stbi_uc* p = rgba.get() + 4 * i;
    const float luma = (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;  // ITU-R 601
    const float alpha = p[3] / 255.0f;
    gray[i] = alpha * luma + (1.0f - alpha);
  }
  return gray;
}

}  // namespace

torch::Tensor load_user_image(const std::string& path, Invert invert) {
  int width = 0, height = 0;
  std::vector<float> gray = read_gray(path, width, height);
  double mean = 0.0;
  for (const float g : gray) mean += g;
  mean /= static_cast<double>(gray.size());
  if (invert == Invert::kYes || (invert == Invert::kAuto && mean > kLightPaper)) {
    for (float& g : gray) g = 1.0f - g;
  }

  // The digit's bounding box.
  int top = height, bottom = -1, left = width, right = -1;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (gray[static_cast<size_t>(y) * width + x] > kInk) {
        top = std::min(top, y), bottom = std::max(bottom, y);
        left = std::min(left, x), right = std::max(right, x);
      }
    }
  }
  if (bottom < 0) throw bad(path, "no digit found: the image is blank (try --invert)");
  const int box_w = right - left + 1, box_h = bottom - top + 1;

  // Fitted into 20x20, keeping its aspect, with stb_image_resize's filters.
  const double scale = static_cast<double>(kBox) / std::max(box_w, box_h);
  const int fit_w = std::clamp(static_cast<int>(std::lround(box_w * scale)), 1, kBox);
  const int fit_h = std::clamp(static_cast<int>(std::lround(box_h * scale)), 1, kBox);
  std::vector<float> fitted(static_cast<size_t>(fit_w) * fit_h);
  const float* crop = gray.data() + static_cast<size_t>(top) * width + left;
  if (stbir_resize_float(crop, box_w, box_h, width * static_cast<int>(sizeof(float)), fitted.data(),
                         fit_w, fit_h, 0, /*num_channels=*/1) == 0) {
    throw bad(path, "cannot resize it");
  }

  // Centred by its centre of mass, as far as the 28x28 field allows.
  double mass = 0.0, cy = 0.0, cx = 0.0;
  for (int y = 0; y < fit_h; ++y) {
    for (int x = 0; x < fit_w; ++x) {
      const double v = std::clamp(fitted[static_cast<size_t>(y) * fit_w + x], 0.0f, 1.0f);
      mass += v, cy += v * y, cx += v * x;
    }
  }
  const auto offset = [&](double centre, int size) {
    const int wanted = static_cast<int>(std::lround(kSide / 2.0 - 0.5 - centre));
    return std::clamp(wanted, 0, kSide - size);
  };
  const int oy = offset(cy / mass, fit_h), ox = offset(cx / mass, fit_w);
  auto out = torch::zeros({kSide, kSide}, torch::kFloat32);
  auto a = out.accessor<float, 2>();
  for (int y = 0; y < fit_h; ++y) {
    for (int x = 0; x < fit_w; ++x) {
      a[oy + y][ox + x] = std::clamp(fitted[static_cast<size_t>(y) * fit_w + x], 0.0f, 1.0f);
    }
  }
  return out;
}

std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<std::string> pngs;
      for (const auto& entry : fs::directory_iterator(path)) {
        std::string ext = entry.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (entry.is_regular_file() && ext == ".png") pngs.push_back(entry.path().string());
      }
      if (pngs.empty()) throw bad(path, "a folder without PNG files");
      std::sort(pngs.begin(), pngs.end());
      files.insert(files.end(), pngs.begin(), pngs.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      throw bad(path, "no such file");
    }
  }
  return files;
}

Dataset load_user_images(const std::vector<std::string>& files, Invert invert) {
  std::vector<torch::Tensor> images;
  for (const std::string& file : files) images.push_back(load_user_image(file, invert));
  const auto batch = torch::stack(images);  // (N, 28, 28) in [0, 1]
  const auto bytes = batch.mul(255.0).round().clamp(0, 255).to(torch::kUInt8);
  return Dataset{bytes, torch::zeros({static_cast<int64_t>(files.size())}, torch::kInt64)};
}

}  // namespace sae
