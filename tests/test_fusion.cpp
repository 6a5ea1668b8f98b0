// Load-time graph rewriting (runtime/fuse.cpp): the fast path takes the layers after a Dense/Conv
// into it. That it is harmless is shown by the Keras parity tests (test_models.cpp run the fast,
// fused path) and here by the fused path against --ref on every fixture; that it happens, by the
// counts on the MobileNet fixtures, expected from the layer classes of their model.json.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

#include "loader/npy.h"
#include "support/helpers.h"
#include "support/tolerance.h"

using namespace krun;
using namespace krun::test;

namespace {

struct Counts {
    int batch_norms = 0, activations = 0, residual_adds = 0, paddings = 0, expansions = 0, input_scalings = 0;
};

// The counts Model::summary() reports.
Counts reported(const Model & model) {
    const std::string summary = model.summary();
    std::smatch m;
    REQUIRE(std::regex_search(summary, m, std::regex("Fused for the fast kernels: (\\d+) BatchNormalization/Rescaling folded, (\\d+) "
                                                      "activations, (\\d+) residual adds, (\\d+) paddings, (\\d+) "
                                                      "expansions computed with their depthwise convolution, (\\d+) "
                                                      "input scalings folded")));
    return {std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3]), std::stoi(m[4]), std::stoi(m[5]), std::stoi(m[6])};
}

Json layers_of(const std::string & model_json) {
    std::ifstream in(model_json);
    return Json::parse(in)["modelTopology"]["model_config"]["config"]["layers"];
}

// What a MobileNet file should give: every BatchNormalization and ZeroPadding2D follows a
// convolution; every ReLU is an activation or part of a hard-sigmoid / hard-swish chain (one
// fused activation each); every Activation layer but the classifier's softmax follows a
// convolution; every Add of two tensors is a residual add (Keras 3's `x + 3.0` op nodes are Add
// entries with a constant operand); every Conv2D named *expand (the 1x1 expansion of an inverted
// residual block) is read by the block's depthwise convolution; every Rescaling (V3's input
// preprocessing) is read by a convolution.
Counts expected_from_file(const std::string & model_json) {
    Counts c;
    for (const Json & layer : layers_of(model_json)) {
        const std::string cls = layer["class_name"];
        const Json & config = layer["config"];
        if (cls == "BatchNormalization") ++c.batch_norms;
        if (cls == "Rescaling") ++c.input_scalings;
        if (cls == "ZeroPadding2D") ++c.paddings;
        const std::string name = config["name"];
        if (cls == "Conv2D" && name.size() >= 6 && name.compare(name.size() - 6, 6, "expand") == 0) ++c.expansions;
        if (cls == "ReLU") ++c.activations;
        if (cls == "Activation" && config["activation"] != "softmax") ++c.activations;
        if (cls == "Add") {
            const Json & call = layer["inbound_nodes"][0];
            const bool two_tensors = call.is_array() ? call.size() == 2 : call["args"][0].is_array();
            if (two_tensors) ++c.residual_adds;
        }
    }
    return c;
}

}  // namespace

TEST_CASE("fusion: MobileNet fixtures fold every BatchNormalization, activation, residual add, padding, expansion and input scaling", "[fusion]") {
    for (const char * name : {"tfk_mobilenet_v2_035", "k3_mobilenet_v2_035", "tfk_mobilenet_v3_large", "k3_mobilenet_v3_large",
                              "tfk_mobilenet_v3_small", "k3_mobilenet_v3_small"}) {
        INFO(name);
        const std::string path = (fs::path(KRUN_MODELS_DIR) / name / "model.json").string();
        const Counts expected = expected_from_file(path);
        CHECK(expected.batch_norms > 0);
        const Counts fast = reported(Model::load(path));
        CHECK(fast.batch_norms == expected.batch_norms);
        CHECK(fast.activations == expected.activations);
        CHECK(fast.residual_adds == expected.residual_adds);
        CHECK(fast.paddings == expected.paddings);
        CHECK(fast.expansions == expected.expansions);
        CHECK(fast.input_scalings == expected.input_scalings);
        Options reference;
        reference.reference_kernels = true;
        const Counts literal = reported(Model::load(path, reference));
        CHECK(literal.batch_norms + literal.activations + literal.residual_adds + literal.paddings + literal.expansions +
                  literal.input_scalings ==
              0);
    }
}

TEST_CASE("fusion: the fused fast path matches the reference kernels on every fixture", "[fusion]") {
    Options reference;
    reference.reference_kernels = true;
    int compared = 0;
    for (const Fixture & f : fixtures()) {
        if (f.expect_error) continue;
        INFO("fixture " << f.name);
        const Model fast = Model::load(f.model_json);
        const Model literal = Model::load(f.model_json, reference);
        const std::vector<Tensor> inputs = read_all(f.inputs);
        const std::vector<Tensor> got = fast.run(inputs), want = literal.run(inputs);
        REQUIRE(got.size() == want.size());
        for (size_t k = 0; k < got.size(); ++k) {
            const Parity parity = compare_parity(got[k], want[k], kFusedAtol, kFusedRtol);
            INFO("output " << k << ": " << describe(parity));
            CHECK(parity.ok());
        }
        ++compared;
    }
    CHECK(compared >= 60);
}
