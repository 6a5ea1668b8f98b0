// The three fuzzed inputs, shared by the libFuzzer targets and by the regression replay in
// tests/test_malformed.cpp: bytes -> files in a scratch folder -> krun, where krun::Error is the
// only accepted failure (anything else escapes; crashes are found by the sanitizers).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include "krun/krun.h"
#include "loader/npy.h"

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

// fuzz_model_json: the bytes are a model.json next to a fixed 24-byte shard (the reference Dense
// model's kernel [[1, 2], [3, 4]] and bias [0.5, -1]); Model::load, then a run on zero inputs.
inline void model_json_input(const ScratchDir & dir, const uint8_t * data, size_t size) {
    const std::vector<float> shard = {1, 2, 3, 4, 0.5f, -1};
    write_bytes(dir / "group1-shard1of1.bin", reinterpret_cast<const char *>(shard.data()), shard.size() * 4);
    write_bytes(dir / "model.json", reinterpret_cast<const char *>(data), size);
    try {
        run_on_zeros(Model::load(dir / "model.json"));
    } catch (const Error &) {
    }
}

// fuzz_weights: the topology is fixed (the tfk_quant_uint8 fixture: Conv2D x2, Dense x2); the
// bytes are JSON, a NUL, then the shard. The JSON is the weightsManifest list or a whole
// model.json (its manifest is used); when it does not parse, the fixture's manifest is used and
// all the bytes are the shard.
inline void weights_input(const ScratchDir & dir, const uint8_t * data, size_t size) {
    using Json = nlohmann::json;
    static const Json fixture = [] {
        std::ifstream in(KRUN_MODELS_DIR "/tfk_quant_uint8/model.json");
        std::ostringstream text;
        text << in.rdbuf();
        return Json::parse(text.str());
    }();
    const char * bytes = reinterpret_cast<const char *>(data);
    const char * nul = static_cast<const char *>(std::memchr(bytes, 0, size));
    // Re-serializing recurses in nlohmann's dump(): keep the JSON shallow (the loader's own depth
    // limit is fuzzed by fuzz_model_json).
    if (nul && std::count(bytes, nul, '[') + std::count(bytes, nul, '{') > 1000) return;
    Json document = fixture;
    const char * shard = bytes;
    if (nul) {
        Json given = Json::parse(bytes, nul, nullptr, false);
        if (given.is_object() && given.contains("weightsManifest")) given = given["weightsManifest"];
        if (!given.is_discarded()) {
            document["weightsManifest"] = given;
            shard = nul + 1;
        }
    }
    const std::string text = document.dump();
    write_bytes(dir / "model.json", text.data(), text.size());
    write_bytes(dir / "group1-shard1of1.bin", shard, size - (shard - bytes));
    try {
        run_on_zeros(Model::load(dir / "model.json"));
    } catch (const Error &) {
    }
}

// fuzz_npy: the bytes are a .npy file.
inline void npy_input(const ScratchDir & dir, const uint8_t * data, size_t size) {
    write_bytes(dir / "input.npy", reinterpret_cast<const char *>(data), size);
    try {
        read_npy(dir / "input.npy");
    } catch (const Error &) {
    }
}

}  // namespace krun::fuzz
