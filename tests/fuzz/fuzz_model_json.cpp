// libFuzzer target fuzz_model_json: see model_json_input in fuzz_support.h. Seeds: the model.json files of models/ and tests/malformed/.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const krun::fuzz::ScratchDir dir;
    krun::fuzz::model_json_input(dir, data, size);
    return 0;
}
