// The reference kernels with their output rows split across OpenMP threads (kernels/threaded.cpp):
// bit-identical to the reference. The SIMD tables fall back to these where they have no kernel of
// their own (grouped convolutions, depth multipliers above 1).
#pragma once

#include "kernels/kernels.h"

namespace krun::threaded {

void gemm(const GemmArgs & args);
void conv2d(const Conv2dArgs & args);
void depthwise_conv2d(const DepthwiseConv2dArgs & args);
void pool2d(const Pool2dArgs & args);

// The whole table: the reference with the four kernels above (expand_depthwise: the reference's).
const Kernels & kernels_threaded();

}  // namespace krun::threaded
