// libFuzzer target: the bytes are a .npy file; read_npy must return a tensor or throw krun::Error.
// Seeds: the .npy files of models/.
#include "fuzz_support.h"
#include "loader/npy.h"

using namespace krun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const fuzz::ScratchDir dir;
    const std::string path = dir / "input.npy";
    fuzz::write_bytes(path, reinterpret_cast<const char *>(data), size);
    try {
        read_npy(path);
    } catch (const Error &) {
    }
    return 0;
}
