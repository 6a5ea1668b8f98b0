// libFuzzer target fuzz_npy: see npy_input in fuzz_support.h. Seeds: the .npy files of models/.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const krun::fuzz::ScratchDir dir;
    krun::fuzz::npy_input(dir, data, size);
    return 0;
}
