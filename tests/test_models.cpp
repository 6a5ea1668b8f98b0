// Keras parity on every fixture under models/: load, run on input_<i>.npy, compare with
// expected_<i>.npy (what Keras computed), with the fast and with the reference kernels.
// (The CLI runs on the same fixtures as the ctest tests "cli.<name>".)
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "loader/npy.h"
#include "support/helpers.h"
#include "support/tolerance.h"

using namespace krun;
using namespace krun::test;

namespace {

// Checks one fixture; every problem is reported with the fixture name, none stops the others.
void check_fixture(const Fixture & f, const Options & options) {
    INFO("fixture " << f.name);
    if (f.expect_error) {
        CHECK_THROWS_AS(Model::load(f.model_json, options), Error);
        return;
    }
    CHECK_FALSE(f.inputs.empty());
    CHECK_FALSE(f.expected.empty());
    try {
        const Model model = Model::load(f.model_json, options);
        std::vector<Tensor> inputs;
        for (const std::string & path : f.inputs) inputs.push_back(read_npy(path));
        const std::vector<Tensor> outputs = model.run(inputs);
        REQUIRE(outputs.size() == f.expected.size());
        bool all_ok = true;
        for (size_t k = 0; k < outputs.size(); ++k) {
            const Tensor expected = read_npy(f.expected[k]);
            const Parity parity = compare_parity(outputs[k], expected, kModelAtol, kModelRtol);
            INFO("output " << k << " ('" << model.outputs()[k].name << "') shape " << shape_string(outputs[k].shape())
                           << ", expected " << shape_string(expected.shape()) << ": " << describe(parity));
            if (!f.expect_divergence) CHECK(parity.ok());
            all_ok = all_ok && parity.ok();
        }
        if (f.expect_divergence) CHECK_FALSE(all_ok);
    } catch (const Error & e) {
        FAIL_CHECK("krun error: " << e.what());
    }
}

}  // namespace

TEST_CASE("models: every fixture matches Keras (fast kernels)", "[models]") {
    const std::vector<Fixture> all = fixtures();
    if (all.empty()) WARN("no fixtures under " KRUN_MODELS_DIR);
    for (const Fixture & f : all) check_fixture(f, {});
}

TEST_CASE("models: every fixture matches Keras (reference kernels)", "[models]") {
    Options reference;
    reference.reference_kernels = true;
    for (const Fixture & f : fixtures()) check_fixture(f, reference);
}
