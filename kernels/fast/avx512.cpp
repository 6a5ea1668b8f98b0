// The SIMD kernels for AVX-512 (F, CD, BW, DQ, VL) with FMA; this file alone is compiled with those instructions enabled.
#include "kernels/fast/simd_kernels.h"

namespace krun::fast {

const Kernels & kernels_avx512() { return simd_table<xsimd::avx512bw>("avx512"); }

}  // namespace krun::fast
