#include <cstdlib>
#include <cstring>

#include "kernels/aligned.h"
#include "kernels/fast/fast.h"
#include "kernels/threaded.h"

#if defined(KRUN_X86_KERNELS)
#include <xsimd/xsimd.hpp>
#endif

namespace krun {

namespace fast {

std::vector<const Kernels *> supported_tables() {
    std::vector<const Kernels *> tables;
#if defined(KRUN_X86_KERNELS)
    const auto cpu = xsimd::available_architectures();
    // xsimd reads CPUID only; the compiler's check also asks whether the OS saves the registers.
    if (cpu.avx512bw && cpu.avx512dq && cpu.avx512cd && cpu.fma3_avx2 && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw"))
        tables.push_back(&kernels_avx512());
    if (cpu.fma3_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) tables.push_back(&kernels_avx2());
    if (cpu.sse4_2) tables.push_back(&kernels_sse42());
#endif
    return tables;
}

float * scratch_floats(Scratch slot, int64_t n) {
    thread_local std::vector<float, CacheAligned<float>> buffers[kScratchSlots];
    std::vector<float, CacheAligned<float>> & buffer = buffers[static_cast<int>(slot)];
    if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);  // new elements are zero
    return buffer.data();
}

const float ** scratch_pointers(int64_t n) {
    thread_local std::vector<const float *> buffer;
    if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
    return buffer.data();
}

}  // namespace fast

static const Kernels & pick_fast_table() {
    const std::vector<const Kernels *> tables = fast::supported_tables();
    if (const char * wanted = std::getenv("KRUN_KERNELS")) {
        for (const Kernels * t : tables)
            if (std::strcmp(t->name, wanted) == 0) return *t;
        if (std::strcmp(wanted, threaded::kernels_threaded().name) == 0) return threaded::kernels_threaded();
    }
    return tables.empty() ? threaded::kernels_threaded() : *tables.front();
}

const Kernels & kernels_fast() {
    static const Kernels & table = pick_fast_table();
    return table;
}

}  // namespace krun
