// Data movement (copy, transpose, concatenate, gather) does not care whether a tensor holds
// float32 or int32: both are 4-byte elements, accessed here as raw bits.
#pragma once

#include <cstdint>

#include "krun/krun.h"

namespace krun {

inline const uint32_t * raw_elements(const Tensor & t) {
    return t.dtype() == DType::Int32 ? reinterpret_cast<const uint32_t *>(t.data_i32())
                                     : reinterpret_cast<const uint32_t *>(t.data());
}

inline uint32_t * raw_elements(Tensor & t) {
    return t.dtype() == DType::Int32 ? reinterpret_cast<uint32_t *>(t.data_i32()) : reinterpret_cast<uint32_t *>(t.data());
}

}  // namespace krun
