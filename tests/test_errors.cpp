// Every load and run error path: each gives one krun::Error whose message names the file (or
// layer/weight) and says what is wrong.
#include <catch2/catch.hpp>

#include "support/helpers.h"

using namespace krun;
using namespace krun::test;
using Catch::Contains;

TEST_CASE("errors: model.json problems", "[errors]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    const std::string path = dir / "model.json";

    SECTION("missing file") {
        CHECK_THAT(load_error(dir / "absent.json"), Contains("cannot open file") && Contains("absent.json"));
    }
    SECTION("invalid JSON") {
        write_file(path, "{\"format\": \"layers-model\", ");
        CHECK_THAT(load_error(path), Contains("invalid JSON") && Contains(path));
    }
    SECTION("missing modelTopology") {
        doc.erase("modelTopology");
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("no modelTopology") && Contains(path));
    }
    SECTION("format graph-model") {
        doc["format"] = "graph-model";
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("'graph-model' is not supported") && Contains(path));
    }
    SECTION("a graph model without format key") {
        doc.erase("format");
        doc["modelTopology"] = {{"node", Json::array()}};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("graph model") && Contains(path));
    }
    SECTION("unknown layer class names the layer and the class") {
        doc["modelTopology"]["model_config"]["config"]["layers"][1]["class_name"] = "HyperScale";
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("unknown layer class 'HyperScale'") && Contains("layer 'dense'") && Contains(path));
    }
    SECTION("a node referring to a missing layer") {
        Json in = input_layer("in", {nullptr, 2});
        in["inbound_nodes"] = Json::array();
        Json d = dense("dense", 2);
        d["inbound_nodes"] = {{{"nowhere", 0, 0, Json::object()}}};
        doc["modelTopology"]["model_config"] = {
            {"class_name", "Functional"},
            {"config", {{"name", "model"}, {"layers", {in, d}}, {"input_layers", {{"in", 0, 0}}}, {"output_layers", {{"dense", 0, 0}}}}}};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("unknown layer 'nowhere'") && Contains("layer 'dense'") && Contains(path));
    }
    SECTION("duplicate layer names") {
        Json in = input_layer("in", {nullptr, 2});
        in["inbound_nodes"] = Json::array();
        Json d1 = dense("dense", 2), d2 = dense("dense", 2);
        d1["inbound_nodes"] = {{{"in", 0, 0, Json::object()}}};
        d2["inbound_nodes"] = {{{"in", 0, 0, Json::object()}}};
        doc["modelTopology"]["model_config"] = {
            {"class_name", "Functional"},
            {"config", {{"name", "model"}, {"layers", {in, d1, d2}}, {"input_layers", {{"in", 0, 0}}}, {"output_layers", {{"dense", 0, 0}}}}}};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("two layers are named 'dense'") && Contains(path));
    }
}

TEST_CASE("errors: weight shards", "[errors]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    const std::string path = dir / "model.json";
    const std::string shard = dir / "group1-shard1of1.bin";

    SECTION("shard missing") {
        fs::remove(shard);
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("shard 'group1-shard1of1.bin' not found") && Contains(path));
    }
    SECTION("shard truncated") {
        write_file(shard, read_file(shard).substr(0, 20));
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("declares 24 bytes") && Contains("hold 20") && Contains(path));
    }
    SECTION("shard too long") {
        write_file(shard, read_file(shard) + "extra");
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("declares 24 bytes") && Contains("hold 29") && Contains(path));
    }
    SECTION("shard path with ..") {
        fs::create_directory(dir.path() / "model");
        doc["weightsManifest"][0]["paths"] = {"../group1-shard1of1.bin"};
        const std::string inner = write_model(dir, doc, "model/model.json");
        CHECK_THAT(load_error(inner), Contains("leaves the model folder") && Contains(inner));
    }
    SECTION("absolute shard path") {
        doc["weightsManifest"][0]["paths"] = {shard};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("must be relative to the model folder") && Contains(path));
    }
    SECTION("symlink pointing outside the model folder") {
        fs::create_directory(dir.path() / "model");
        fs::create_symlink(shard, dir.path() / "model" / "link.bin");
        doc["weightsManifest"][0]["paths"] = {"link.bin"};
        const std::string inner = write_model(dir, doc, "model/model.json");
        CHECK_THAT(load_error(inner), Contains("outside the model folder") && Contains(inner));
    }
    SECTION("a symlink inside the model folder is fine") {
        fs::rename(shard, dir.path() / "real.bin");
        fs::create_symlink(dir.path() / "real.bin", shard);
        write_model(dir, doc);
        CHECK(load_error(path).empty());
    }
    SECTION("unknown dtype") {
        doc["weightsManifest"][0]["weights"][0]["dtype"] = "float64";
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("unsupported dtype 'float64'") && Contains("dense/kernel") && Contains(path));
    }
    SECTION("unknown quantization dtype") {
        doc["weightsManifest"][0]["weights"][0]["quantization"] = {{"dtype", "int4"}, {"scale", 1.0}, {"min", 0.0}};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("unsupported quantization dtype 'int4'") && Contains("dense/kernel") && Contains(path));
    }
    SECTION("affine quantization without scale") {
        doc["weightsManifest"][0]["weights"][0]["quantization"] = {{"dtype", "uint8"}, {"min", 0.0}};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("needs numeric scale and min") && Contains(path));
    }
}

TEST_CASE("errors: weight binding", "[errors]") {
    TempDir dir;
    Json doc = dense_model_document(dir);
    const std::string path = dir / "model.json";

    SECTION("weight shape mismatch names the layer and the expected shape") {
        // Same 4 floats, declared [4, 1] instead of [2, 2].
        doc["weightsManifest"][0]["weights"][0]["shape"] = {4, 1};
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("layer 'dense' (Dense)") && Contains("has shape [4, 1], expected [2, 2]") &&
                                         Contains(path));
    }
    SECTION("missing weight") {
        write_file(dir / "group1-shard1of1.bin", float_bytes(dense_model_kernel()));
        doc["weightsManifest"][0]["weights"].erase(1);
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("layer 'dense' (Dense)") && Contains("weight 'bias' was not found") && Contains(path));
    }
    SECTION("unused manifest weight") {
        std::vector<float> values = dense_model_kernel();
        values.insert(values.end(), {0.5f, -1, 42});
        write_file(dir / "group1-shard1of1.bin", float_bytes(values));
        doc["weightsManifest"][0]["weights"].push_back(weight("other/scale", {1}));
        write_model(dir, doc);
        CHECK_THAT(load_error(path), Contains("match no layer weight") && Contains("'other/scale'") && Contains(path));
    }
}

TEST_CASE("errors: Model::run input checks", "[errors]") {
    TempDir dir;
    const Model model = Model::load(write_model(dir, dense_model_document(dir)));
    CHECK_THAT(run_error(model, {Tensor({1, 3})}), Contains("expected shape [None, 2], got [1, 3]") && Contains("'dense_input'"));
    CHECK_THAT(run_error(model, {Tensor({2})}), Contains("expected shape [None, 2], got [2]"));
    CHECK_THAT(run_error(model, {}), Contains("expects 1 input(s), got 0"));
    CHECK_THAT(run_error(model, {Tensor({1, 2}), Tensor({1, 2})}), Contains("expects 1 input(s), got 2"));
}
