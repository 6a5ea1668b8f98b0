// libFuzzer target for the weight manifest and shard decoder: the topology is fixed (the
// tfk_quant_uint8 fixture: Conv2D x2, Dense x2); the bytes are JSON, a NUL, then the shard.
// The JSON is the weightsManifest list or a whole model.json (its manifest is used); when it does
// not parse, the fixture's manifest is used and all the bytes are the shard. Seeds: the fixture's
// shard and model.json files, and "model.json NUL shard" files made by tools/fuzz.sh.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"

using namespace krun;
using Json = nlohmann::json;

namespace {

const Json & fixture() {
    static const Json document = [] {
        std::ifstream in(KRUN_MODELS_DIR "/tfk_quant_uint8/model.json");
        std::ostringstream text;
        text << in.rdbuf();
        return Json::parse(text.str());
    }();
    return document;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const fuzz::ScratchDir dir;
    const char * bytes = reinterpret_cast<const char *>(data);
    const char * nul = static_cast<const char *>(std::memchr(bytes, 0, size));
    Json manifest = fixture()["weightsManifest"];
    const char * shard = bytes;
    // The harness re-serializes the JSON and nlohmann's dump() recurses: keep it shallow (the
    // loader's own depth limit is fuzzed by fuzz_model_json).
    if (nul && std::count(bytes, nul, '[') + std::count(bytes, nul, '{') > 1000) return 0;
    if (nul) {
        Json given = Json::parse(bytes, nul, nullptr, false);
        if (given.is_object() && given.contains("weightsManifest")) given = given["weightsManifest"];
        if (!given.is_discarded()) {
            manifest = given;
            shard = nul + 1;
        }
    }
    Json document = fixture();
    document["weightsManifest"] = manifest;
    const std::string text = document.dump();
    fuzz::write_bytes(dir / "model.json", text.data(), text.size());
    fuzz::write_bytes(dir / "group1-shard1of1.bin", shard, size - (shard - bytes));
    try {
        fuzz::run_on_zeros(Model::load(dir / "model.json"));
    } catch (const Error &) {
    }
    return 0;
}
