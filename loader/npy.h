// NumPy .npy files: read float32/float64 (converted to float32) and int32/int64 (converted to
// int32) arrays in C order; write float32 or int32 arrays.
#pragma once

#include <string>

#include "krun/krun.h"

namespace krun {

Tensor read_npy(const std::string & path);
void write_npy(const std::string & path, const Tensor & tensor);

}  // namespace krun
