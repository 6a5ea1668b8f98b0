// Hostile and broken input (issue 5): a table of malformed model folders and .npy files, each of
// which must end in one krun::Error whose message names the file and says what is wrong; NaN and
// Inf inputs that propagate as in Keras; the NaN rule of `--expect`; the fuzzers' regression inputs.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>

#include "fuzz/fuzz_support.h"
#include "loader/npy.h"
#include "support/helpers.h"

using namespace krun;
using namespace krun::test;
using Catch::Contains;

namespace {

// A Keras 2 Functional model_config.
Json functional(const Json & layers, const Json & inputs, const Json & outputs) {
    return {{"class_name", "Functional"},
            {"config", {{"name", "model"}, {"layers", layers}, {"input_layers", inputs}, {"output_layers", outputs}}}};
}

Json with_nodes(Json layer, const Json & nodes) {
    layer["inbound_nodes"] = nodes;
    return layer;
}

// The reference Dense model rewired as a Functional model whose dense layer reads `ref`.
Json functional_dense(const Json & ref) {
    return functional({with_nodes(input_layer("in", {nullptr, 2}), Json::array()), with_nodes(dense("dense", 2), {{ref}})},
                      {{"in", 0, 0}}, {{"dense", 0, 0}});
}

// `depth` Sequential models nested in each other, written as text: nlohmann's dump() recurses.
std::string nested_sequential_text(int depth) {
    std::string open, close;
    for (int i = 0; i < depth; ++i) {
        open += R"({"class_name": "Sequential", "config": {"name": "m)" + std::to_string(i) + R"(", "layers": [)";
        close += "]}}";
    }
    return R"({"format": "layers-model", "modelTopology": {"keras_version": "2.15.0", "model_config": )" + open +
           R"({"class_name": "Dense", "config": {"name": "dense", "units": 2}})" + close + "}}";
}

struct ModelCase {
    const char * name;
    // Edits the reference Dense model folder (its document is written afterwards unless the edit
    // returns the model.json text itself).
    std::function<std::string(const TempDir & dir, Json & doc)> edit;
    std::vector<std::string> phrases;  // all must appear in the message, besides the file path
};

const std::string kShard = "group1-shard1of1.bin";

// The edits take `const TempDir &`, not `auto &`: clang 14 leaves the json temporaries of a
// braced list assigned inside a generic lambda undestroyed, which LeakSanitizer reports.
std::vector<ModelCase> model_cases() {
    using Edit = std::function<std::string(const TempDir &, Json &)>;
    auto doc_edit = [](std::function<void(const TempDir &, Json &)> f) -> Edit {
        return [f](const TempDir & dir, Json & doc) {
            f(dir, doc);
            return doc.dump(1);
        };
    };
    auto text = [](std::string t) -> Edit { return [t](const TempDir &, Json &) { return t; }; };
    auto layers = [](Json & doc) -> Json & { return doc["modelTopology"]["model_config"]["config"]["layers"]; };
    auto weights = [](Json & doc) -> Json & { return doc["weightsManifest"][0]["weights"]; };
    const int64_t big = int64_t(1) << 40;
    return {
        {"invalid JSON", text("{\"format\": \"layers-model\", modelTopology: {}}"), {"invalid JSON"}},
        {"truncated JSON",
         [](const TempDir & dir, Json & doc) {
             const std::string full = doc.dump(1);
             return full.substr(0, full.size() / 2);
         },
         {"invalid JSON"}},
        {"empty file", text(""), {"invalid JSON"}},
        {"top level is a list", text("[1, 2, 3]"), {"top level should be a JSON object"}},
        {"missing modelTopology", doc_edit([](const TempDir &, Json & doc) { doc.erase("modelTopology"); }), {"no modelTopology"}},
        {"modelTopology is a string", doc_edit([](const TempDir &, Json & doc) { doc["modelTopology"] = "x"; }), {"no modelTopology"}},
        {"unknown format", doc_edit([](const TempDir &, Json & doc) { doc["format"] = "onnx"; }), {"format 'onnx' is not supported"}},
        {"top-level class is a layer",
         doc_edit([](const TempDir &, Json & doc) { doc["modelTopology"]["model_config"] = dense("dense", 2); }),
         {"top-level class 'Dense' is not a model"}},
        {"shard missing", doc_edit([](const TempDir & dir, Json &) { fs::remove(dir.path() / kShard); }),
         {"shard 'group1-shard1of1.bin' not found"}},
        {"shard truncated",
         doc_edit([](const TempDir & dir, Json &) { write_file(dir / kShard, read_file(dir / kShard).substr(0, 23)); }),
         {"declares 24 bytes", "hold 23"}},
        {"shard too long", doc_edit([](const TempDir & dir, Json &) { write_file(dir / kShard, read_file(dir / kShard) + "x"); }),
         {"declares 24 bytes", "hold 25"}},
        {"shard is a directory",
         doc_edit([](const TempDir & dir, Json & doc) {
             fs::create_directory(dir.path() / "sub");
             doc["weightsManifest"][0]["paths"] = {"sub"};
         }),
         {"shard 'sub' is not a regular file"}},
        {"unknown dtype", doc_edit([=](const TempDir &, Json & doc) { weights(doc)[0]["dtype"] = "complex64"; }),
         {"unsupported dtype 'complex64'", "dense/kernel"}},
        {"unknown quantization dtype",
         doc_edit([=](const TempDir &, Json & doc) { weights(doc)[0]["quantization"] = {{"dtype", "int4"}, {"scale", 1}, {"min", 0}}; }),
         {"unsupported quantization dtype 'int4'", "dense/kernel"}},
        {"negative dimension", doc_edit([=](const TempDir &, Json & doc) { weights(doc)[0]["shape"] = {-2, -2}; }),
         {"dense/kernel", "should hold non-negative integers"}},
        {"fractional dimension", doc_edit([=](const TempDir &, Json & doc) { weights(doc)[0]["shape"] = {2.5, 2}; }),
         {"dense/kernel", "should hold non-negative integers"}},
        {"zero dimension: found by the binding",
         doc_edit([=](const TempDir & dir, Json & doc) {
             weights(doc)[0]["shape"] = {0, 2};
             write_file(dir / kShard, float_bytes(dense_model_bias()));
         }),
         {"layer 'dense' (Dense)", "has shape [0, 2], expected [2, 2]"}},
        {"element count overflowing 64 bits",
         doc_edit([=](const TempDir &, Json & doc) { weights(doc)[0]["shape"] = {big, big, big}; }),
         {"dense/kernel", "needs more bytes than the 24 in the group's shards"}},
        {"2^40 float32 declared on a tiny shard",
         doc_edit([=](const TempDir &, Json & doc) { weights(doc)[0]["shape"] = {big}; }),
         {"dense/kernel", "needs more bytes than the 24"}},
        {"weights larger than the machine's memory (sparse shard)",
         doc_edit([=](const TempDir & dir, Json & doc) {
             fs::resize_file(dir / kShard, 4 * big);  // sparse: takes no disk space
             weights(doc) = Json::array({weight("dense/kernel", {big})});  // {x} alone copies x under clang
         }),
         {"4398046511104 bytes of weights", "more than the", "bytes of memory"}},
        {"shard path with ..",
         doc_edit([](const TempDir &, Json & doc) { doc["weightsManifest"][0]["paths"] = {"sub/../../" + kShard}; }),
         {"leaves the model folder"}},
        {"absolute shard path", doc_edit([](const TempDir &, Json & doc) { doc["weightsManifest"][0]["paths"] = {"/etc/passwd"}; }),
         {"shard path '/etc/passwd' must be relative"}},
        {"symlink pointing outside the folder",
         doc_edit([](const TempDir & dir, Json & doc) {
             fs::create_symlink("/etc/passwd", dir.path() / "link.bin");
             doc["weightsManifest"][0]["paths"] = {"link.bin"};
         }),
         {"shard 'link.bin' resolves to", "outside the model folder"}},
        {"node refers to a missing layer",
         doc_edit([](const TempDir &, Json & doc) { doc["modelTopology"]["model_config"] = functional_dense({"nowhere", 0, 0, Json::object()}); }),
         {"unknown layer 'nowhere'", "layer 'dense'"}},
        {"node refers to a missing node index",
         doc_edit([](const TempDir &, Json & doc) { doc["modelTopology"]["model_config"] = functional_dense({"in", 7, 0, Json::object()}); }),
         {"layer 'dense' needs output 0 of call 7 of layer 'in'", "missing node index"}},
        {"node refers to a missing tensor index",
         doc_edit([](const TempDir &, Json & doc) { doc["modelTopology"]["model_config"] = functional_dense({"in", 0, 3, Json::object()}); }),
         {"layer 'dense' needs output 3 of call 0 of layer 'in'"}},
        {"node index negative",
         doc_edit([](const TempDir &, Json & doc) { doc["modelTopology"]["model_config"] = functional_dense({"in", -1, 0, Json::object()}); }),
         {"bad inbound reference"}},
        {"cycle between two layers",
         doc_edit([=](const TempDir & dir, Json & doc) {
             weights(doc) = {weight("a/kernel", {2, 2}), weight("a/bias", {2}), weight("b/kernel", {2, 2}), weight("b/bias", {2})};
             write_file(dir / kShard, float_bytes(std::vector<float>(12, 1.f)));
             doc["modelTopology"]["model_config"] = functional(
                 {with_nodes(input_layer("in", {nullptr, 2}), Json::array()),
                  with_nodes(dense("a", 2), {{{"b", 0, 0, Json::object()}}}), with_nodes(dense("b", 2), {{{"a", 0, 0, Json::object()}}})},
                 {{"in", 0, 0}}, {{"b", 0, 0}});
         }),
         {"layer 'a' needs output 0 of call 0 of layer 'b'", "cycle"}},
        {"duplicate layer names",
         doc_edit([=](const TempDir &, Json & doc) { layers(doc).push_back(dense("dense", 2)); }), {"two layers are named 'dense'"}},
        {"models nested 65 deep", text(nested_sequential_text(65)), {"models nested more than 64 deep"}},
        {"models nested 30000 deep (JSON 90000 deep)", text(nested_sequential_text(30000)), {"nested deeper than"}},
        {"100000 nested arrays in a layer config",
         doc_edit([=](const TempDir &, Json & doc) { layers(doc)[1]["config"]["units"] = "@@"; }), {"nested deeper than"}},
    };
}

// The last case's "@@" becomes 100000 nested arrays in the text (nlohmann's dump() recurses).
std::string expand_marker(std::string text) {
    const size_t at = text.find("\"@@\"");
    if (at != std::string::npos) text.replace(at, 4, std::string(100000, '[') + std::string(100000, ']'));
    return text;
}

int cli_exit(const std::string & args, const std::string & out) {
    const int status = std::system((std::string(KRUN_CLI) + " " + args + " >" + out + " 2>&1").c_str());
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

}  // namespace

TEST_CASE("malformed: model folders fail with one clear error naming the file", "[malformed]") {
    for (const ModelCase & c : model_cases()) {
        INFO("case: " << c.name);
        TempDir dir;
        Json doc = dense_model_document(dir);
        const std::string path = dir / "model.json";
        write_file(path, expand_marker(c.edit(dir, doc)));
        const auto start = std::chrono::steady_clock::now();
        const std::string message = load_error(path);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        INFO("message: " << message);
        CHECK_THAT(message, Contains(path));
        for (const std::string & phrase : c.phrases) CHECK_THAT(message, Contains(phrase));
        CHECK(seconds < 5);  // refused before reading or allocating anything large
    }
}

TEST_CASE("malformed: a layer asking for a tensor larger than memory fails at run with krun::Error", "[malformed]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    Json & layers = doc["modelTopology"]["model_config"]["config"]["layers"];
    layers[1] = {{"class_name", "RepeatVector"}, {"config", {{"name", "repeat"}, {"trainable", true}, {"n", int64_t(1) << 40}}}};
    doc["weightsManifest"] = Json::array();
    const Model model = Model::load(write_model(dir, doc));
    CHECK_THAT(run_error(model, {Tensor({1, 2})}), Contains("tensor shape [1, 1099511627776, 2] needs") && Contains("bytes of memory"));
}

TEST_CASE("malformed: Keras 3 nodes wrapped in [[ ]] (the defect of a real model_fixed.json)", "[malformed]") {
    const std::string path = std::string(KRUN_MALFORMED_DIR) + "/k3_wrapped_nodes/model.json";
    CHECK_THAT(load_error(path), Contains(path) && Contains("layer 'conv'") && Contains("bad inbound reference"));
}

TEST_CASE("malformed: .npy files", "[malformed]") {
    TempDir dir;
    const std::string path = dir / "bad.npy";
    const std::string four = float_bytes({1, 2, 3, 4});
    const std::vector<std::pair<std::string, std::string>> cases = {
        {npy_file("<f4", "(2, 2)", four, "True"), "Fortran-order"},
        {npy_file("<f2", "(2,)", four), "unsupported .npy dtype '<f2'"},
        {npy_file("|b1", "(4,)", four), "unsupported .npy dtype '|b1'"},
        {npy_file(">f4", "(4,)", four), "unsupported .npy dtype '>f4'"},
        {npy_file("<f4", "(2, 2)", four.substr(0, 15)), "truncated .npy data"},
        {npy_file("<f4", "(4294967296, 4294967296, 4294967296)", four), "truncated .npy data"},
        {npy_file("<f4", "(-4,)", four), "bad shape"},
        {npy_file("<f4", "(2.0, 2)", four), "bad shape"},
        {npy_file("<f4", "(99999999999999999999,)", four), "bad shape"},
        {npy_file("<f4", "4", four), "no 'shape' field"},
        {npy_file("<f4", "(2, 2)", four).substr(0, 40), "truncated .npy header"},
        // A 60000-character descr: std::regex recursed once per character and overflowed the stack.
        {npy_file(std::string(60000, 'x'), "(4,)", four), "unsupported .npy dtype"},
        {std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12), ".npy header too long"},
        {std::string("\x93NUMPY\x09\x00", 8), "unsupported .npy version 9"},
        {"", "bad magic"},
    };
    for (const auto & [bytes, phrase] : cases) {
        INFO("expecting: " << phrase);
        write_file(path, bytes);
        const std::string message = npy_error(path);
        CHECK_THAT(message, Contains(path) && Contains(phrase));
    }
}

TEST_CASE("malformed: inputs of the wrong shape, rank or dtype", "[malformed]") {
    TempDir dir;
    const std::string model_path = write_model(dir, dense_model_document(dir));
    const Model model = Model::load(model_path);
    CHECK_THAT(run_error(model, {Tensor({1, 3})}), Contains("'dense_input'") && Contains("expected shape [None, 2], got [1, 3]"));
    CHECK_THAT(run_error(model, {Tensor({1, 1, 2})}), Contains("expected shape [None, 2], got [1, 1, 2]"));
    CHECK_THAT(run_error(model, {Tensor({2})}), Contains("expected shape [None, 2], got [2]"));

    // The same through the CLI, from .npy files: exit 2 naming the problem.
    const std::string out = dir / "out.txt";
    write_npy(dir / "rank3.npy", Tensor({1, 1, 2}));
    CHECK(cli_exit(model_path + " " + (dir / "rank3.npy"), out) == 2);
    CHECK_THAT(read_file(out), Contains("expected shape [None, 2], got [1, 1, 2]"));
    write_file(dir / "fortran.npy", npy_file("<f4", "(2, 2)", float_bytes({1, 2, 3, 4}), "True"));
    CHECK(cli_exit(model_path + " " + (dir / "fortran.npy"), out) == 2);
    CHECK_THAT(read_file(out), Contains("fortran.npy") && Contains("Fortran-order"));
    write_file(dir / "short.npy", npy_file("<f4", "(2, 2)", float_bytes({1, 2, 3})));
    CHECK(cli_exit(model_path + " " + (dir / "short.npy"), out) == 2);
    CHECK_THAT(read_file(out), Contains("short.npy") && Contains("truncated .npy data"));
}

TEST_CASE("malformed: NaN and Inf inputs propagate as in Keras", "[malformed]") {
    TempDir dir;
    const Model model = Model::load(write_model(dir, dense_model_document(dir)));
    // kernel [[1, 2], [3, 4]], bias [0.5, -1]: y0 = x0 + 3 x1 + 0.5, y1 = 2 x0 + 4 x1 - 1.
    const std::vector<float> nan_in = run_one(model, {1, 2}, {kNaN, 1});
    CHECK(std::isnan(nan_in[0]));
    CHECK(std::isnan(nan_in[1]));
    CHECK(run_one(model, {1, 2}, {kInf, 1}) == std::vector<float>{kInf, kInf});
    CHECK(run_one(model, {1, 2}, {0, -kInf}) == std::vector<float>{-kInf, -kInf});
    const std::vector<float> inf_minus_inf = run_one(model, {1, 2}, {kInf, -kInf});
    CHECK(std::isnan(inf_minus_inf[0]));
    CHECK(std::isnan(inf_minus_inf[1]));
}

TEST_CASE("malformed: --expect matches NaN only with NaN", "[malformed]") {
    CHECK(compare_parity(Tensor({2}, {kNaN, 1}), Tensor({2}, {kNaN, 1}), 1e-4, 1e-3).ok());
    CHECK(compare_parity(Tensor({2}, {kInf, -kInf}), Tensor({2}, {kInf, -kInf}), 1e-4, 1e-3).ok());
    CHECK_FALSE(compare_parity(Tensor({2}, {kNaN, 1}), Tensor({2}, {1, 1}), 1e-4, 1e-3).ok());
    CHECK_FALSE(compare_parity(Tensor({2}, {1, 1}), Tensor({2}, {kNaN, 1}), 1e-4, 1e-3).ok());
    CHECK_FALSE(compare_parity(Tensor({1}, {kInf}), Tensor({1}, {3e38f}), 1e-4, 1e3).ok());

    // The CLI: input [NaN, 1] gives [NaN, NaN].
    TempDir dir;
    const std::string model = write_model(dir, dense_model_document(dir));
    const std::string out = dir / "out.txt";
    write_npy(dir / "in.npy", Tensor({1, 2}, {kNaN, 1}));
    write_npy(dir / "both_nan.npy", Tensor({1, 2}, {kNaN, kNaN}));
    write_npy(dir / "one_nan.npy", Tensor({1, 2}, {kNaN, 0}));
    const std::string run = model + " " + (dir / "in.npy") + " --expect ";
    CHECK(cli_exit(run + (dir / "both_nan.npy"), out) == 0);
    CHECK(cli_exit(run + (dir / "one_nan.npy"), out) == 1);
    CHECK_THAT(read_file(out), Contains("MISMATCH"));
}

TEST_CASE("malformed: fuzzer regression inputs are refused cleanly", "[malformed]") {
    // tests/fuzz/regressions/TARGET/FILE: an input that once crashed fuzz target TARGET, replayed
    // through the same code (tests/fuzz/fuzz_support.h). A crash fails the whole test run.
    using Input = void (*)(const fuzz::ScratchDir &, const uint8_t *, size_t);
    const std::vector<std::pair<std::string, Input>> targets = {
        {"fuzz_model_json", fuzz::model_json_input}, {"fuzz_weights", fuzz::weights_input}, {"fuzz_npy", fuzz::npy_input}};
    const fs::path root = KRUN_FUZZ_REGRESSIONS_DIR;
    const fuzz::ScratchDir dir;
    int replayed = 0;
    for (const auto & [target, input] : targets) {
        if (!fs::is_directory(root / target)) continue;
        for (const auto & entry : fs::directory_iterator(root / target)) {
            INFO("regression " << entry.path().string());
            const std::string bytes = read_file(entry.path().string());
            CHECK_NOTHROW(input(dir, reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()));
            ++replayed;
        }
    }
    SUCCEED("replayed " << replayed << " regression input(s)");
}

// Integer data for a float input is converted, as Keras casts what model.predict is given
// (an int32 tensor is never read as float bits).
TEST_CASE("malformed: int32 data for a float32 input is converted, not reinterpreted", "[malformed]") {
    TempDir dir;
    const Model model = Model::load(write_model(dir, dense_model_document(dir)));
    Tensor as_int({1, 2}, DType::Int32);
    as_int.data_i32()[0] = 3;
    as_int.data_i32()[1] = -2;
    const std::vector<Tensor> from_int = model.run({as_int});
    const std::vector<Tensor> from_float = model.run({Tensor({1, 2}, {3.f, -2.f})});
    CHECK(std::equal(from_int[0].data(), from_int[0].data() + from_int[0].size(), from_float[0].data()));
}

// An infinity matches only the same infinity: atol + rtol * |inf| must not let 1 match inf.
TEST_CASE("malformed: --expect rule with infinities", "[malformed]") {
    CHECK_FALSE(compare_parity(Tensor({1}, {kInf}), Tensor({1}, {-kInf}), 1e-4, 1e-3).ok());
    CHECK_FALSE(compare_parity(Tensor({1}, {1}), Tensor({1}, {kInf}), 1e-4, 1e-3).ok());
    CHECK(compare_parity(Tensor({1}, {-kInf}), Tensor({1}, {-kInf}), 1e-4, 1e-3).ok());
}
