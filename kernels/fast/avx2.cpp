// The SIMD kernels for AVX2 with FMA; this file alone is compiled with those instructions enabled.
#include "kernels/fast/simd_kernels.h"

namespace krun::fast {

const Kernels & kernels_avx2() { return simd_table<xsimd::fma3<xsimd::avx2>>("avx2"); }

}  // namespace krun::fast
