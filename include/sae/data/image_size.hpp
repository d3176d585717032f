#pragma once
// The size of an MNIST image, for every layer that shapes tensors around it (no other includes
// needed: the model uses it without the IDX reader).

#include <cstdint>

namespace sae {

/// Side length of an MNIST image.
constexpr int64_t kImageSide = 28;

}  // namespace sae
