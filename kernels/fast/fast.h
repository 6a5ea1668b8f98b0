// The SIMD kernel tables: one per x86-64 architecture level, each compiled in its own file with
// that level's compiler flags (avx512.cpp, avx2.cpp, sse42.cpp from the template code in
// simd_kernels.h); dispatch.cpp picks the best one the CPU supports for kernels_fast().
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace krun::fast {

const Kernels & kernels_avx512();  // AVX-512 F/CD/BW/DQ/VL with FMA
const Kernels & kernels_avx2();    // AVX2 with FMA
const Kernels & kernels_sse42();   // SSE4.2

// Every compiled SIMD table this CPU can run, best first (empty on other processors). The
// environment variable KRUN_KERNELS set to one of their names (or "threaded reference") makes
// kernels_fast() return that table instead of the best one, e.g. to test a lower level.
std::vector<const Kernels *> supported_tables();

// Per-thread scratch memory of the SIMD kernels, grown on demand and kept for the next call.
// These live in dispatch.cpp, compiled for baseline x86-64: the standard-library code behind them
// must not be compiled with AVX-512 flags, where the linker could pick it for the whole program.
enum class Scratch { TailPanel, Rows, Zeros, Ring, PaddedRows, PadRun };
constexpr int kScratchSlots = static_cast<int>(Scratch::PadRun) + 1;
float * scratch_floats(Scratch slot, int64_t n);
const float ** scratch_pointers(int64_t n);
// n zeros (the input of a convolution tap that falls in the padding).
inline const float * zeros(int64_t n) { return scratch_floats(Scratch::Zeros, n); }

}  // namespace krun::fast
