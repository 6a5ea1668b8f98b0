// Loading hand-written model.json files: every topology and manifest variant the format spec
// lists (sections 1 and 2), checked by running small Dense models with hand-computed outputs.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "support/helpers.h"
#include "support/tolerance.h"

using namespace krun;
using namespace krun::test;

namespace {

// The reference Dense model on input [1, 1]: [1+3+0.5, 2+4-1].
const std::vector<float> kDenseOutput = {4.5f, 5.0f};

std::vector<float> run_dense_model(const std::string & path) {
    const Model model = Model::load(path);
    return run_one(model, {1, 2}, {1, 1});
}

// Keras 3 serialization of a tensor argument.
Json keras_tensor(const std::string & layer, const Json & shape) {
    return {{"class_name", "__keras_tensor__"},
            {"config", {{"shape", shape}, {"dtype", "float32"}, {"keras_history", {layer, 0, 0}}}}};
}

Json dtype_policy(const std::string & name) {
    return {{"module", "keras"}, {"class_name", "DTypePolicy"}, {"config", {{"name", name}}}, {"registered_name", nullptr}};
}

// A Dense with a [1, n] kernel and no bias returns its kernel row exactly on input [[1]]: the
// way these tests read back decoded weight values.
Json probe_model_document(int n, const Json & kernel_entry) {
    const Json model = sequential("sequential", {input_layer("x", {nullptr, 1}), dense("probe", n, false)});
    return converter_document(model, {{{"paths", {"w.bin"}}, {"weights", {kernel_entry}}}});
}

std::vector<float> probe_values(const std::string & path, int n) {
    const std::vector<float> out = run_one(Model::load(path), {1, 1}, {1});
    REQUIRE(out.size() == static_cast<size_t>(n));
    return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

}  // namespace

TEST_CASE("loader: the reference Dense model computes the hand-computed output", "[loader]") {
    TempDir dir;
    const std::string path = write_model(dir, dense_model_document(dir));
    CHECK(run_dense_model(path) == kDenseOutput);
    const Model model = Model::load(path);
    REQUIRE(model.inputs().size() == 1);
    CHECK(model.inputs()[0].shape == std::vector<int64_t>{-1, 2});
    REQUIRE(model.outputs().size() == 1);
    CHECK(model.outputs()[0].name == "dense");
    CHECK(model.outputs()[0].shape == std::vector<int64_t>{-1, 2});
    CHECK_THAT(model.summary(), Catch::Contains("dense (Dense)") && Catch::Contains("Total params: 6"));
    CHECK_THAT(model.producer(), Catch::Contains("keras 2.15.0"));
    // A batch of two rows, and the reference kernels give the same.
    CHECK(run_one(model, {2, 2}, {1, 1, 0, 1}) == std::vector<float>{4.5f, 5, 3.5f, 3});
    Options ref;
    ref.reference_kernels = true;
    CHECK(run_one(Model::load(path, ref), {1, 2}, {1, 1}) == kDenseOutput);
}

TEST_CASE("loader: topology variants", "[loader]") {
    TempDir dir;
    Json doc = dense_model_document(dir);

    SECTION("no format key") {
        doc.erase("format");
        CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
    }
    SECTION("bare TF.js-saved topology without model_config") {
        Json topology = doc["modelTopology"]["model_config"];
        topology["keras_version"] = "tfjs-layers 1.3.1";
        topology["backend"] = "tensor_flow.js";
        doc["modelTopology"] = topology;
        doc.erase("format");
        doc.erase("generatedBy");
        doc.erase("convertedBy");
        CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
        CHECK_THAT(Model::load(dir / "model.json").producer(), Catch::Contains("tfjs-layers 1.3.1"));
    }
    SECTION("Sequential config as a bare list of layers (old Keras)") {
        Json first = dense("dense", 2);
        first["config"]["batch_input_shape"] = {nullptr, 2};
        doc["modelTopology"]["model_config"] = {{"class_name", "Sequential"}, {"config", Json::array({first})}};
        doc["modelTopology"]["keras_version"] = "2.2.4";
        CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
    }
    SECTION("Sequential without InputLayer, input shape on the first layer") {
        Json first = dense("dense", 2);
        first["config"]["batch_input_shape"] = {nullptr, 2};
        doc["modelTopology"]["model_config"] = sequential("sequential", Json::array({first}));
        CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
    }
    SECTION("input shape spellings: batch_input_shape, batch_shape, batchInputShape") {
        for (const char * key : {"batch_input_shape", "batch_shape", "batchInputShape"}) {
            INFO(key);
            Json input = {{"class_name", "InputLayer"}, {"config", {{key, {nullptr, 2}}, {"dtype", "float32"}, {"name", "in"}}}};
            doc["modelTopology"]["model_config"] = sequential("sequential", {input, dense("dense", 2)});
            const std::string path = write_model(dir, doc);
            CHECK(run_dense_model(path) == kDenseOutput);
            CHECK(Model::load(path).inputs()[0].shape == std::vector<int64_t>{-1, 2});
        }
    }
    SECTION("Keras 2 Functional with list nodes") {
        Json in = input_layer("in", {nullptr, 2});
        in["name"] = "in";
        in["inbound_nodes"] = Json::array();
        Json d = dense("dense", 2);
        d["name"] = "dense";
        d["inbound_nodes"] = {{{"in", 0, 0, Json::object()}}};
        doc["modelTopology"]["model_config"] = {
            {"class_name", "Functional"},
            {"config", {{"name", "model"}, {"layers", {in, d}}, {"input_layers", {{"in", 0, 0}}}, {"output_layers", {{"dense", 0, 0}}}}}};
        const std::string path = write_model(dir, doc);
        CHECK(run_dense_model(path) == kDenseOutput);
        CHECK(Model::load(path).inputs()[0].name == "in");
    }
    SECTION("Keras 3 Functional: dict nodes with __keras_tensor__, bare-triple input/output layers, DTypePolicy") {
        Json in = {{"class_name", "InputLayer"},
                   {"config", {{"batch_shape", {nullptr, 2}}, {"dtype", "float32"}, {"sparse", false}, {"name", "input_layer"}}},
                   {"name", "input_layer"},
                   {"inbound_nodes", Json::array()}};
        Json d = dense("dense", 2);
        d["config"]["dtype"] = dtype_policy("float32");
        d["name"] = "dense";
        d["inbound_nodes"] = {{{"args", {keras_tensor("input_layer", {nullptr, 2})}}, {"kwargs", Json::object()}}};
        doc["modelTopology"]["model_config"] = {
            {"class_name", "Functional"},
            {"config",
             {{"name", "functional"}, {"trainable", true}, {"layers", {in, d}}, {"input_layers", {"input_layer", 0, 0}},
              {"output_layers", {"dense", 0, 0}}}}};
        doc["modelTopology"]["keras_version"] = "3.5.0";
        const std::string path = write_model(dir, doc);
        CHECK(run_dense_model(path) == kDenseOutput);
        CHECK_THAT(Model::load(path).producer(), Catch::Contains("keras 3.5.0"));
    }
    SECTION("DTypePolicy objects in a Keras 2 spelled file") {
        doc["modelTopology"]["model_config"]["config"]["layers"][1]["config"]["dtype"] = dtype_policy("float32");
        CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
    }
}

TEST_CASE("loader: several manifest groups and shards, a tensor straddling two shards", "[loader]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    // Group 1: the kernel split 3 + 1 floats over two shards (bytes 0-11 and 12-15); group 2:
    // the bias in its own shard.
    const std::string kernel = float_bytes(dense_model_kernel());
    write_file(dir / "group1-shard1of2.bin", kernel.substr(0, 12));
    write_file(dir / "group1-shard2of2.bin", kernel.substr(12));
    write_file(dir / "group2-shard1of1.bin", float_bytes(dense_model_bias()));
    doc["weightsManifest"] = {
        {{"paths", {"group1-shard1of2.bin", "group1-shard2of2.bin"}}, {"weights", {weight("dense/kernel", {2, 2})}}},
        {{"paths", {"group2-shard1of1.bin"}}, {"weights", {weight("dense/bias", {2})}}}};
    CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
}

TEST_CASE("loader: a tensor starting inside the first shard and ending in the second", "[loader]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    std::vector<float> all = dense_model_bias();  // bias first this time
    all.insert(all.end(), dense_model_kernel().begin(), dense_model_kernel().end());
    const std::string bytes = float_bytes(all);
    write_file(dir / "a.bin", bytes.substr(0, 16));  // bias + kernel[0..1]
    write_file(dir / "b.bin", bytes.substr(16));     // kernel[2..3]
    doc["weightsManifest"] = {{{"paths", {"a.bin", "b.bin"}}, {"weights", {weight("dense/bias", {2}), weight("dense/kernel", {2, 2})}}}};
    CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
}

TEST_CASE("loader: int32 weights are converted to float32", "[loader]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    write_file(dir / "group1-shard1of1.bin", int32_bytes({1, 2, 3, 4}) + float_bytes(dense_model_bias()));
    doc["weightsManifest"][0]["weights"][0]["dtype"] = "int32";
    CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
}

TEST_CASE("loader: uint8 affine quantization is q*scale+min in double, rounded once", "[loader]") {
    TempDir dir;
    // scale 0.1 and min -1.3 are not exact in float32: computing in float32 would differ from
    // the double result for many q (checked below, so the test keeps its point).
    const double scale = 0.1, min = -1.3;
    std::string q;
    for (int v = 0; v < 256; ++v) q += static_cast<char>(v);
    write_file(dir / "w.bin", q);
    Json entry = weight("probe/kernel", {1, 256});
    entry["quantization"] = {{"dtype", "uint8"}, {"scale", scale}, {"min", min}};
    const std::string path = write_model(dir, probe_model_document(256, entry));
    const std::vector<float> got = probe_values(path, 256);
    int float_arithmetic_differs = 0;
    for (int v = 0; v < 256; ++v) {
        INFO("q = " << v);
        const float expected = static_cast<float>(v * scale + min);
        volatile float product = static_cast<float>(v) * static_cast<float>(scale);
        const float in_float = product + static_cast<float>(min);
        float_arithmetic_differs += in_float != expected;
        CHECK(same_bits(got[v], expected));
    }
    CHECK(float_arithmetic_differs > 0);
}

TEST_CASE("loader: uint16 affine quantization is q*scale+min in double, rounded once", "[loader]") {
    TempDir dir;
    const double scale = 0.00123, min = -0.31;
    const std::vector<uint16_t> q = {0, 1, 31, 255, 256, 1000, 12345, 40000, 65534, 65535};
    const int n = static_cast<int>(q.size());
    write_file(dir / "w.bin", uint16_bytes(q));
    Json entry = weight("probe/kernel", {1, n});
    entry["quantization"] = {{"dtype", "uint16"}, {"scale", scale}, {"min", min}};
    const std::vector<float> got = probe_values(write_model(dir, probe_model_document(n, entry)), n);
    int float_arithmetic_differs = 0;
    for (int i = 0; i < n; ++i) {
        INFO("q = " << q[i]);
        const float expected = static_cast<float>(q[i] * scale + min);
        volatile float product = static_cast<float>(q[i]) * static_cast<float>(scale);
        float_arithmetic_differs += product + static_cast<float>(min) != expected;
        CHECK(same_bits(got[i], expected));
    }
    CHECK(float_arithmetic_differs > 0);
}

TEST_CASE("loader: float16 quantization decodes normals, subnormals and infinities exactly", "[loader]") {
    TempDir dir;
    // 1, -2.5, 65504 (max), 2^-14 (min normal), 2^-24 (min subnormal), 3 * 2^-24, +inf, -inf, -0
    const std::vector<uint16_t> half = {0x3C00, 0xC100, 0x7BFF, 0x0400, 0x0001, 0x0003, 0x7C00, 0xFC00, 0x8000};
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> expected = {1.f, -2.5f, 65504.f, std::ldexp(1.f, -14), std::ldexp(1.f, -24),
                                         std::ldexp(3.f, -24), inf, -inf, -0.f};
    const int n = static_cast<int>(half.size());
    write_file(dir / "w.bin", uint16_bytes(half));
    Json entry = weight("probe/kernel", {1, n});
    entry["quantization"] = {{"dtype", "float16"}};
    const std::vector<float> got = probe_values(write_model(dir, probe_model_document(n, entry)), n);
    for (int i = 0; i < n; ++i) {
        INFO("half 0x" << std::hex << half[i]);
        CHECK(got[i] == expected[i]);
    }
}

TEST_CASE("loader: optimizer weights are skipped", "[loader]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    // Optimizer entries take their bytes in the shard but bind to nothing.
    std::vector<float> values = dense_model_kernel();
    values.insert(values.end(), dense_model_bias().begin(), dense_model_bias().end());
    values.push_back(7);     // optimizer/iter
    values.push_back(9);     // Adam moment, group "optimizer"
    values.push_back(9);
    write_file(dir / "group1-shard1of1.bin", float_bytes(values));
    Json moment = weight("Adam/dense/bias/m", {2});
    moment["group"] = "optimizer";
    doc["weightsManifest"][0]["weights"].push_back(weight("optimizer/iter", {1}));
    doc["weightsManifest"][0]["weights"].push_back(moment);
    CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
}

TEST_CASE("loader: weight name spellings", "[loader]") {
    TempDir dir;
    SECTION("':0' suffix") {
        CHECK(run_dense_model(write_model(dir, dense_model_document(dir, "dense/kernel:0", "dense/bias:0"))) == kDenseOutput);
    }
    SECTION("Keras 3 Sequential model-scope prefix") {
        CHECK(run_dense_model(write_model(dir, dense_model_document(dir, "sequential/dense/kernel", "sequential/dense/bias"))) ==
              kDenseOutput);
    }
    SECTION(".keras path names") {
        CHECK(run_dense_model(write_model(dir, dense_model_document(dir, "layers/dense/vars/0", "layers/dense/vars/1"))) ==
              kDenseOutput);
    }
    SECTION("manifest order differs from layer order: bound by name") {
        Json doc = dense_model_document(dir);
        std::vector<float> values = dense_model_bias();
        values.insert(values.end(), dense_model_kernel().begin(), dense_model_kernel().end());
        write_file(dir / "group1-shard1of1.bin", float_bytes(values));
        doc["weightsManifest"][0]["weights"] = {weight("dense/bias", {2}), weight("dense/kernel", {2, 2})};
        CHECK(run_dense_model(write_model(dir, doc)) == kDenseOutput);
    }
}

TEST_CASE("loader: two-layer models bind each layer's weights", "[loader]") {
    // Sequential [Dense(3) "b_dense", Dense(2) "a_dense"] on input [None, 2]:
    //   b_dense kernel [[1, 0, 2], [0, 1, -1]], bias [1, 1, 1]: [1, 2] -> [2, 3, 1]
    //   a_dense kernel [[1, 0], [0, 1], [1, 1]], bias [0, 10]:  [2, 3, 1] -> [3, 14]
    const std::vector<float> b_kernel = {1, 0, 2, 0, 1, -1}, b_bias = {1, 1, 1};
    const std::vector<float> a_kernel = {1, 0, 0, 1, 1, 1}, a_bias = {0, 10};
    const std::vector<float> expected = {3, 14};
    TempDir dir;
    auto document = [&](const Json & model, const std::vector<std::string> & names) {
        // Manifest in sorted layer order (a_dense first), as Keras h5 files and the converter write it.
        std::vector<float> values = a_kernel;
        for (const auto * v : {&a_bias, &b_kernel, &b_bias}) values.insert(values.end(), v->begin(), v->end());
        write_file(dir / "group1-shard1of1.bin", float_bytes(values));
        const Json weights = {weight(names[0], {3, 2}), weight(names[1], {2}), weight(names[2], {2, 3}), weight(names[3], {3})};
        return converter_document(model, {{{"paths", {"group1-shard1of1.bin"}}, {"weights", weights}}});
    };
    const Json model = sequential("sequential", {input_layer("in", {nullptr, 2}), dense("b_dense", 3), dense("a_dense", 2)});

    SECTION("scoped names") {
        const std::string path = write_model(dir, document(model, {"a_dense/kernel", "a_dense/bias", "b_dense/kernel", "b_dense/bias"}));
        CHECK(run_one(Model::load(path), {1, 2}, {1, 2}) == expected);
    }
    SECTION("bare duplicate names (Keras 3.0-3.2 h5) bind by sorted layer name") {
        const std::string path = write_model(dir, document(model, {"kernel", "bias", "kernel", "bias"}));
        const Model loaded = Model::load(path);
        CHECK(run_one(loaded, {1, 2}, {1, 2}) == expected);
        CHECK_THAT(loaded.summary(), Catch::Contains("by sorted layer order"));
    }
    SECTION(".keras keys follow class order, not layer names") {
        // b_dense is the first Dense in model.layers: key layers/dense; a_dense is layers/dense_1.
        const std::string path = write_model(
            dir, document(model, {"layers/dense_1/vars/0", "layers/dense_1/vars/1", "layers/dense/vars/0", "layers/dense/vars/1"}));
        CHECK(run_one(Model::load(path), {1, 2}, {1, 2}) == expected);
    }
}

TEST_CASE("loader: a model without weights needs no manifest", "[loader]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    doc["modelTopology"]["model_config"] = sequential("sequential", {input_layer("in", {nullptr, 3}), {{"class_name", "Flatten"}, {"config", {{"name", "flatten"}, {"trainable", true}, {"dtype", "float32"}}}}});
    SECTION("empty groups") {
        doc["weightsManifest"] = {{{"paths", Json::array()}, {"weights", Json::array()}}};
        CHECK(run_one(Model::load(write_model(dir, doc)), {1, 3}, {1, 2, 3}) == std::vector<float>{1, 2, 3});
    }
    SECTION("no weightsManifest key") {
        doc.erase("weightsManifest");
        CHECK(run_one(Model::load(write_model(dir, doc)), {1, 3}, {1, 2, 3}) == std::vector<float>{1, 2, 3});
    }
}
