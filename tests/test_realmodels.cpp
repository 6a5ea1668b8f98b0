// Real third-party conversions from ../shared/realmodels (not part of the project; skipped with
// a warning when the folder is absent): the supported ones load and run on a zero input with
// finite outputs, the unsupported ones fail with the expected message.
#include <catch2/catch.hpp>

#include <cmath>

#include "support/helpers.h"

using namespace krun;
using namespace krun::test;

namespace {

struct RealModel {
    const char * file;   // relative to the realmodels folder
    const char * error;  // nullptr: must load and run; otherwise a phrase of the expected error
};

const RealModel kRealModels[] = {
    {"tm-aircraft/model.json", nullptr},
    {"gru-foulshot/model.json", nullptr},
    {"mnist-cnn-k212/model.json", nullptr},
    {"k3-cnn-functional/model.json", nullptr},
    {"plate-resnet-uint8/model.json", nullptr},
    // Custom layer class: not a Keras layer.
    {"customlayer-hyperscale/model.json", "unknown layer class 'HyperScale'"},
    // The author wrapped every Keras 3 node dict in [[ ]]: malformed.
    {"k3-cnn-functional/model_fixed.json", "bad inbound reference"},
};

// A zero input for `info`: batch 1, unknown dimensions (time steps) 5.
Tensor zero_input(const TensorInfo & info) {
    std::vector<int64_t> shape = info.shape;
    for (size_t d = 0; d < shape.size(); ++d)
        if (shape[d] < 0) shape[d] = d == 0 ? 1 : 5;
    return Tensor(shape, info.dtype);
}

}  // namespace

TEST_CASE("realmodels: real conversions load (skipped when ../shared/realmodels is absent)", "[realmodels]") {
    const fs::path root = KRUN_REALMODELS_DIR;
    if (!fs::is_directory(root)) {
        WARN("skipped: " << root.string() << " is absent");
        return;
    }
    for (const RealModel & m : kRealModels) {
        const fs::path path = root / m.file;
        INFO("real model " << m.file);
        if (!fs::exists(path)) {
            WARN("skipped: " << path.string() << " is absent");
            continue;
        }
        if (m.error) {
            CHECK_THAT(load_error(path.string()), Catch::Contains(m.error));
            continue;
        }
        try {
            const Model model = Model::load(path.string());
            std::vector<Tensor> inputs;
            for (const TensorInfo & info : model.inputs()) inputs.push_back(zero_input(info));
            for (const Tensor & out : model.run(inputs)) {
                bool finite = true;
                for (int64_t i = 0; i < out.size() && out.dtype() == DType::Float32; ++i) finite &= std::isfinite(out.data()[i]);
                CHECK(finite);
            }
        } catch (const Error & e) {
            FAIL_CHECK("krun error: " << e.what());
        }
    }
}
