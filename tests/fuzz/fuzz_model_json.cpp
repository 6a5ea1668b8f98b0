// libFuzzer target: the bytes are a model.json next to a fixed 24-byte shard (the reference Dense
// model's kernel [[1, 2], [3, 4]] and bias [0.5, -1]); Model::load, then a run on zero inputs.
// Anything but success or krun::Error is a bug. Seeds: the model.json files of models/.
#include <vector>

#include "fuzz_support.h"

using namespace krun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const fuzz::ScratchDir dir;
    static const bool shard_written = [] {
        const std::vector<float> shard = {1, 2, 3, 4, 0.5f, -1};
        fuzz::write_bytes(dir / "group1-shard1of1.bin", reinterpret_cast<const char *>(shard.data()), shard.size() * 4);
        return true;
    }();
    (void)shard_written;
    const std::string path = dir / "model.json";
    fuzz::write_bytes(path, reinterpret_cast<const char *>(data), size);
    try {
        fuzz::run_on_zeros(Model::load(path));
    } catch (const Error &) {
    }
    return 0;
}
