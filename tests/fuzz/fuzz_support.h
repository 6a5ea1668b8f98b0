// Shared by the libFuzzer targets: a scratch folder per process, and running a loaded model on
// zero inputs (so layer validation is fuzzed too), with krun::Error as the only accepted failure.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "krun/krun.h"

namespace krun::fuzz {

// A folder under /tmp for this process, removed at exit.
class ScratchDir {
public:
    ScratchDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "krun-fuzz-XXXXXX").string();
        if (!mkdtemp(pattern.data())) std::abort();
        path_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string operator/(const std::string & name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

inline void write_bytes(const std::string & path, const char * data, size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(size));
    if (!out) std::abort();
}

// Runs `model` once on zero inputs (unknown dimensions 2) unless they would be large.
inline void run_on_zeros(const Model & model) {
    std::vector<Tensor> inputs;
    for (const TensorInfo & info : model.inputs()) {
        std::vector<int64_t> shape = info.shape;
        int64_t count = 1;
        for (int64_t & d : shape) {
            if (d < 0) d = 2;
            if (d > 4096 || (count *= d) > (1 << 20)) return;
        }
        inputs.emplace_back(shape, info.dtype);
    }
    model.run(inputs);
}

}  // namespace krun::fuzz
