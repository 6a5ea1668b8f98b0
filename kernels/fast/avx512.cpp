// The SIMD kernels for AVX-512 (F, CD, BW, DQ, VL) with FMA; this file alone is compiled with those instructions enabled.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers build some vectors from deliberately undefined ones and then warn about
// them where xsimd's exp and tanh inline those intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/fast/simd_kernels.h"

namespace krun::fast {

const Kernels & kernels_avx512() { return simd_table<xsimd::avx512bw>("avx512"); }

}  // namespace krun::fast
