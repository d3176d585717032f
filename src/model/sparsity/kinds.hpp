#pragma once
// The kinds of code the registry lists (registry.cpp), one per file of this folder.

#include "sae/model/sparsity.hpp"

namespace sae {

const Sparsity& kl_kind();    // kl.cpp
const Sparsity& l1_kind();    // l1.cpp
const Sparsity& none_kind();  // none.cpp

}  // namespace sae
