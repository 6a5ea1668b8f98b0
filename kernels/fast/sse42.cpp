// The SIMD kernels for SSE4.2; this file alone is compiled with those instructions enabled.
#include "kernels/fast/simd_kernels.h"

namespace krun::fast {

const Kernels & kernels_sse42() { return simd_table<xsimd::sse4_2>("sse4.2"); }

}  // namespace krun::fast
