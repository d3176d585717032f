#pragma once
// The kinds of code the registry lists (registry.cpp), one per file of this folder.

#include "sae/model/code.hpp"

namespace sae {

const Code& sigmoid_code();    // sigmoid.cpp
const Code& relu_code();       // relu.cpp
const Code& topk_code();       // topk.cpp
const Code& batchtopk_code();  // batchtopk.cpp
const Code& jumprelu_code();   // jumprelu.cpp

/// d <- d where h > 0, else 0: the backward of every code that is relu(z) on the units it keeps.
void kept_units_backward(const float* h, float* d, int64_t count);

}  // namespace sae
