// libFuzzer target fuzz_weights: see weights_input in fuzz_support.h. Seeds: "model.json NUL
// shard" files made by tools/fuzz.sh from the quantized fixtures, and a shard.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const krun::fuzz::ScratchDir dir;
    krun::fuzz::weights_input(dir, data, size);
    return 0;
}
