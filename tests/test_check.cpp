// `krun check` and `krun inspect` on the field fixtures (models/field_*: what each must report is
// in its fixture.json "field_case"), on broken copies written here, and `krun check` on every
// fixture (exit 0, or 1 with "expect_divergence", 2 with "expect_error").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>

#include "support/cli.h"
#include "support/helpers.h"

using namespace krun;
using namespace krun::test;
using Catch::Contains;

namespace {

const std::string kModels = KRUN_MODELS_DIR;

std::string check_args(const std::string & fixture) {
    return "check " + kModels + "/" + fixture + "/model.json " + kModels + "/" + fixture;
}

Json read_json(const std::string & path) {
    std::ifstream in(path);
    return Json::parse(in);
}

const Json * find_layer(const Json & report, const std::string & name) {
    for (const Json & l : report["layers"])
        if (l["name"] == name) return &l;
    return nullptr;
}

const Json * find_weight(const Json & diagnosis, const std::string & slot) {
    for (const Json & w : diagnosis["weights"])
        if (w["slot"] == slot) return &w;
    return nullptr;
}

// A copy of models/<fixture> in `dir` whose model.json is `edit`ed.
std::string broken_copy(const TempDir & dir, const std::string & fixture, const std::function<void(Json &)> & edit) {
    for (const auto & entry : fs::directory_iterator(kModels + "/" + fixture))
        if (entry.is_regular_file()) fs::copy_file(entry.path(), dir.path() / entry.path().filename());
    Json doc = read_json(dir / "model.json");
    edit(doc);
    return write_model(dir, doc);
}

Json & layer_config(Json & doc, const std::string & name) {
    for (Json & l : doc["modelTopology"]["model_config"]["config"]["layers"])
        if (l["config"]["name"] == name) return l["config"];
    FAIL("no layer " << name);
    throw;
}

}  // namespace

TEST_CASE("check: field_fresh_init diverges at its first layer, whose weights look freshly initialised", "[check]") {
    TempDir dir;
    const CliResult r = krun_cli(dir, check_args("field_fresh_init") + " --json " + (dir / "report.json"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Contains("first divergence: conv\n") && Contains("freshly initialised"));
    const Json report = read_json(dir / "report.json");
    CHECK(report["first_divergence"] == "conv");
    CHECK(report["exit_status"] == 1);
    // conv is the first layer krun runs (its input is the model input).
    CHECK(report["layers"][0]["name"] == "conv");
    const Json & d = report["diagnosis"];
    CHECK(d["inputs_ok"] == true);
    REQUIRE(find_weight(d, "kernel"));
    REQUIRE(find_weight(d, "bias"));
    CHECK((*find_weight(d, "kernel"))["verdict"] == "fresh initialisation");
    CHECK_THAT((*find_weight(d, "kernel"))["detail"].get<std::string>(), Contains("Glorot-uniform limit"));
    CHECK((*find_weight(d, "bias"))["verdict"] == "fresh initialisation");
    CHECK((*find_weight(d, "bias"))["krun"]["max"] == 0);
    CHECK((*find_weight(d, "bias"))["reference_stats"]["max"] != 0);
    // The other layers' weights are initializer values too (fixture.json "weights_replaced").
    std::vector<std::string> others;
    for (const Json & o : d["other_weights"]) others.push_back(o.get<std::string>().substr(0, o.get<std::string>().find(':')));
    CHECK(others == std::vector<std::string>{"bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance", "hidden/kernel",
                                             "hidden/bias", "probs/kernel", "probs/bias"});
    for (const Json & o : d["other_weights"]) CHECK_THAT(o.get<std::string>(), Contains(": fresh initialisation"));
}

TEST_CASE("check: field_corrupted_mobilenet diverges first at block_3_project, whose kernel is permuted", "[check]") {
    TempDir dir;
    const CliResult r =
        krun_cli(dir, check_args("field_corrupted_mobilenet") + " --json " + (dir / "r.json") + " --plot " + (dir / "r.svg"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Contains("first divergence: block_3_project\n"));
    const Json report = read_json(dir / "r.json");
    CHECK(report["first_divergence"] == "block_3_project");
    const Json & d = report["diagnosis"];
    REQUIRE(find_weight(d, "kernel"));
    CHECK((*find_weight(d, "kernel"))["verdict"] == "permutation");
    CHECK((*find_weight(d, "kernel"))["reference"] == "block_3_project/kernel");
    CHECK(d["other_weights"].empty());  // only this kernel was corrupted
    // Every layer before it within tolerance.
    size_t compared = 0;
    bool before = true;
    for (const Json & l : report["layers"]) {
        if (l["name"] == "block_3_project") before = false;
        if (before && l["status"] != "not in reference") CHECK(l["status"] == "ok");
        compared += l.contains("max_abs");
    }
    CHECK(compared > 100);
    // The plot: one polyline point per compared layer, the first divergence named.
    const std::string svg = read_file(dir / "r.svg");
    CHECK_THAT(svg, Contains("<svg") && Contains("first divergence: block_3_project"));
    const std::smatch m = [&] {
        std::smatch match;
        std::regex_search(svg, match, std::regex("<polyline[^>]* points=\"([^\"]*)\""));
        return match;
    }();
    REQUIRE(m.size() == 2);
    const std::string points = m[1];
    CHECK(static_cast<size_t>(std::count(points.begin(), points.end(), ',')) == compared);
}

TEST_CASE("check and inspect: field_duplicate_names is resolved by order", "[check]") {
    TempDir dir;
    const CliResult inspect = krun_cli(dir, "inspect " + kModels + "/field_duplicate_names/model.json");
    CHECK(inspect.exit_code == 0);
    CHECK_THAT(inspect.out, Contains("warning: duplicated: manifest weight name 'kernel' appears 3 times; resolved by "
                                     "manifest order: dense/kernel, dense_1/kernel, dense_2/kernel") &&
                                Contains("manifest weight name 'bias' appears 3 times"));
    const CliResult check = krun_cli(dir, check_args("field_duplicate_names"));
    CHECK(check.exit_code == 0);
    CHECK_THAT(check.out, Contains("everything within tolerance"));
}

TEST_CASE("check: field_shared_layer compares every call of the shared layer", "[check]") {
    TempDir dir;
    const CliResult r = krun_cli(dir, check_args("field_shared_layer") + " --json " + (dir / "r.json"));
    CHECK(r.exit_code == 0);
    const Json report = read_json(dir / "r.json");
    for (const std::string name : {"shared", "shared@1", "shared@2", "head"}) {
        INFO(name);
        REQUIRE(find_layer(report, name));
        CHECK((*find_layer(report, name))["status"] == "ok");
    }
    CHECK(report["first_divergence"].is_null());
}

TEST_CASE("check: GRU cell names and Keras 3 batch_shape fixtures agree with Keras", "[check]") {
    TempDir dir;
    for (const std::string fixture : {"field_gru_cell_names_tfk", "field_gru_cell_names_k3", "field_k3_batch_shape"}) {
        INFO(fixture);
        const CliResult r = krun_cli(dir, check_args(fixture) + " --json " + (dir / "r.json"));
        CHECK(r.exit_code == 0);
        const Json report = read_json(dir / "r.json");
        size_t compared = 0;
        for (const Json & l : report["layers"]) compared += l["status"] == "ok";
        CHECK(compared >= 3);
    }
}

TEST_CASE("check: every fixture passes, except those expected to diverge or be refused", "[check]") {
    TempDir dir;
    for (const auto & entry : fs::directory_iterator(kModels)) {
        if (!fs::exists(entry.path() / "model.json")) continue;
        const std::string name = entry.path().filename().string();
        const Json fixture = read_json((entry.path() / "fixture.json").string());
        const int expected = fixture.contains("expect_error") ? 2 : fixture.contains("expect_divergence") ? 1 : 0;
        INFO(name);
        const CliResult r = krun_cli(dir, check_args(name));
        CHECK(r.exit_code == expected);
        if (expected == 1) CHECK_THAT(r.out, Contains("first divergence: " + fixture["expect_divergence"].get<std::string>() + "\n"));
    }
}

TEST_CASE("check: errors", "[check]") {
    TempDir dir;
    const std::string model = kModels + "/field_shared_layer/model.json";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"check " + model, "usage: krun check MODEL.json REFDIR"},
        {"check " + model + " " + (dir / "absent"), "absent: not a folder"},
        {"check " + model + " " + dir.path().string(), "no input_0.npy"},
        {"check " + model + " " + kModels + "/field_shared_layer --atol x", "--atol expects a number"},
        {"inspect", "usage: krun inspect MODEL.json"},
        {"inspect " + (dir / "absent.json"), "absent.json: cannot open file"},
    };
    for (const auto & [args, phrase] : cases) {
        INFO("krun " << args);
        const CliResult r = krun_cli(dir, args);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::StartsWith("krun: error: ") && Contains(phrase));
    }
    CHECK_THAT(krun_cli(dir, "check --help").out, Contains("reference kernels and no load-time fusion"));
}

TEST_CASE("inspect: a GRU bias without reset_after's [2, 3u] shape is a shape problem", "[check]") {
    TempDir dir;
    // rnn_1 is RNN(GRUCell(3, reset_after=False)): bias [9]; with reset_after it must be [2, 9].
    const std::string model = broken_copy(dir, "field_gru_cell_names_tfk", [](Json & doc) {
        layer_config(doc, "rnn_1")["cell"]["config"]["reset_after"] = true;
    });
    const CliResult r = krun_cli(dir, "inspect " + model);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Contains("problem: shape: layer 'rnn_1'") && Contains("has shape [9], expected [2, 9]") &&
                          Contains("1 problem(s)"));
    CHECK_THAT(r.out, Contains("head (Dense)") && Contains("[not checked]"));
}

TEST_CASE("inspect: every missing and unused weight is listed", "[check]") {
    TempDir dir;
    const std::string model = broken_copy(dir, "field_gru_cell_names_tfk", [](Json & doc) {
        for (Json & w : doc["weightsManifest"][0]["weights"]) {
            if (w["name"] == "head/bias") w["name"] = "head/offset";
            if (w["name"] == "gru/gru_cell/kernel") w["name"] = "gru/gru_cell/kernal";
        }
    });
    const CliResult r = krun_cli(dir, "inspect " + model);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Contains("problem: unused: manifest weight 'head/offset' [2]") &&
                          Contains("problem: unused: manifest weight 'gru/gru_cell/kernal'") &&
                          Contains("problem: missing: layer 'head' (Dense) expects weight 'bias'") &&
                          Contains("problem: missing: layer 'gru' (GRU) expects weight 'kernel'") &&
                          Contains("4 problem(s)"));
    // Loading still refuses the file with the loader's message.
    CHECK_THAT(load_error(model), Contains("2 manifest weight(s) match no layer weight"));
}

TEST_CASE("inspect: producer, dialect, quantization and parameters", "[check]") {
    TempDir dir;
    const CliResult r = krun_cli(dir, "inspect " + kModels + "/tfk_quant_uint8/model.json");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("producer: keras 2.21.0") && Contains("Keras 2 inbound nodes (lists)") &&
                          Contains("uint8 (quantized: affine scale/min)") && Contains("8 quantized") && Contains("consistent"));
    const CliResult k3 = krun_cli(dir, "inspect " + kModels + "/k3_dense_mlp_keras_path/model.json");
    CHECK_THAT(k3.out, Contains(".keras path weight names") && Contains("dense (Dense)                           176"));
}

namespace {

// Rewrites the float32 manifest weight `name` of the model copied in `dir` (single shard group)
// with `edit(values, shape)`.
void edit_shard_weight(const TempDir & dir, const std::string & name,
                       const std::function<std::vector<float>(const std::vector<float> &, const Json &)> & edit) {
    const Json doc = read_json(dir / "model.json");
    const Json & group = doc["weightsManifest"][0];
    REQUIRE(group["paths"].size() == 1);
    const std::string shard_path = dir / group["paths"][0].get<std::string>();
    std::string shard = read_file(shard_path);
    size_t offset = 0;
    for (const Json & w : group["weights"]) {
        REQUIRE(w["dtype"] == "float32");
        size_t count = 1;
        for (const Json & d : w["shape"]) count *= d.get<size_t>();
        if (w["name"] == name) {
            std::vector<float> values(count);
            std::memcpy(values.data(), shard.data() + offset, count * 4);
            const std::vector<float> edited = edit(values, w["shape"]);
            REQUIRE(edited.size() == count);
            shard.replace(offset, count * 4, float_bytes(edited));
            write_file(shard_path, shard);
            return;
        }
        offset += count * 4;
    }
    FAIL("no weight " << name);
}

}  // namespace

TEST_CASE("check: a GRU kernel with its gate blocks swapped is recognised", "[check]") {
    TempDir dir;
    broken_copy(dir, "field_gru_cell_names_tfk", [](Json &) {});
    // kernel [4, 18]: 6 units, gate blocks z, r, h along the last axis; swap z and r.
    edit_shard_weight(dir, "gru/gru_cell/kernel", [](const std::vector<float> & v, const Json & shape) {
        const size_t cols = shape[1].get<size_t>(), units = cols / 3;
        std::vector<float> out = v;
        for (size_t row = 0; row < v.size() / cols; ++row)
            for (size_t u = 0; u < units; ++u) std::swap(out[row * cols + u], out[row * cols + units + u]);
        return out;
    });
    const CliResult r = krun_cli(dir, "check " + (dir / "model.json") + " " + kModels + "/field_gru_cell_names_tfk --json " +
                                          (dir / "r.json"));
    CHECK(r.exit_code == 1);
    const Json report = read_json(dir / "r.json");
    CHECK(report["first_divergence"] == "gru");
    REQUIRE(find_weight(report["diagnosis"], "kernel"));
    CHECK((*find_weight(report["diagnosis"], "kernel"))["verdict"] == "gate order");
    CHECK_THAT((*find_weight(report["diagnosis"], "kernel"))["detail"].get<std::string>(), Contains("[1, 0, 2]"));
    CHECK((*find_weight(report["diagnosis"], "recurrent_kernel"))["verdict"] == "equal");
}

TEST_CASE("check: a transposed Dense kernel is recognised", "[check]") {
    TempDir dir;
    broken_copy(dir, "field_shared_layer", [](Json &) {});
    edit_shard_weight(dir, "shared/kernel", [](const std::vector<float> & v, const Json & shape) {
        const size_t n = shape[0].get<size_t>();
        REQUIRE(shape[1].get<size_t>() == n);
        std::vector<float> out(v.size());
        for (size_t i = 0; i < n; ++i)
            for (size_t j = 0; j < n; ++j) out[j * n + i] = v[i * n + j];
        return out;
    });
    const CliResult r = krun_cli(dir, "check " + (dir / "model.json") + " " + kModels + "/field_shared_layer --json " +
                                          (dir / "r.json"));
    CHECK(r.exit_code == 1);
    const Json report = read_json(dir / "r.json");
    CHECK(report["first_divergence"] == "shared");
    CHECK((*find_weight(report["diagnosis"], "kernel"))["verdict"] == "transposed");
    CHECK((*find_weight(report["diagnosis"], "bias"))["verdict"] == "equal");
    // The later calls of the shared layer diverge only because their input did.
    CHECK((*find_layer(report, "shared@1"))["inputs_ok"] == false);
}

TEST_CASE("check: an activation computed with the other Keras version's formula is named", "[check]") {
    // The tf-keras model (Keras 2 hard_sigmoid) against the Keras 3 fixture's act_hard_sigmoid,
    // which Keras 3 computed on its own input.
    TempDir dir;
    fs::create_directories(dir.path() / "ref" / "layers");
    fs::copy_file(kModels + "/k3_activations/input_0.npy", dir / "ref/input_0.npy");
    const Json k3 = read_json(kModels + "/k3_activations/model.json");
    const Json & outputs = k3["modelTopology"]["model_config"]["config"]["output_layers"];
    size_t index = 0;
    while (outputs[index][0] != "act_hard_sigmoid") ++index;
    fs::copy_file(kModels + "/k3_activations/expected_" + std::to_string(index) + ".npy",
                  dir / "ref/layers/act_hard_sigmoid.npy");
    const CliResult r = krun_cli(dir, "check " + kModels + "/tfk_activations/model.json " + (dir / "ref"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Contains("first divergence: act_hard_sigmoid\n") &&
                          Contains("suspect: the activation formula of the other Keras version"));
    // Exactly one alternative reproduces the reference: the Keras 3 formula.
    std::vector<std::string> matching;
    const std::regex match_line("recomputed: (.*): max abs error \\S+ -> MATCHES");
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), match_line); it != std::sregex_iterator(); ++it)
        matching.push_back((*it)[1]);
    CHECK(matching == std::vector<std::string>{"hard_sigmoid (Keras 3: relu6(x + 3) / 6)"});
}

TEST_CASE("check: a reference folder without layers/ compares the outputs only", "[check]") {
    TempDir dir;
    const CliResult r = krun_cli(dir, check_args("k3_nested_model") + " --json " + (dir / "r.json"));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("no layers/ in the reference folder: outputs only"));
    const Json report = read_json(dir / "r.json");
    CHECK(report["layers"].empty());
    REQUIRE(report["outputs"].size() == 4);
    for (const Json & o : report["outputs"]) CHECK(o["status"] == "ok");
}

TEST_CASE("check: a reference layer of another shape is a divergence, not an error", "[check]") {
    TempDir dir;
    broken_copy(dir, "field_shared_layer", [](Json &) {});
    fs::create_directories(dir.path() / "layers");
    for (const std::string stem : {"shared", "shared@2", "head"})
        fs::copy_file(kModels + "/field_shared_layer/layers/" + stem + ".npy", dir / ("layers/" + stem + ".npy"));
    fs::copy_file(kModels + "/field_shared_layer/layers/head.npy", dir / "layers/shared@1.npy");  // [2, 2], not [2, 6]
    const CliResult r = krun_cli(dir, "check " + (dir / "model.json") + " " + dir.path().string() + " --json " + (dir / "r.json"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Contains("DIVERGES (shape): reference shape [2, 2]") && Contains("first divergence: shared@1\n") &&
                          Contains("its output shape [2, 6] differs from the reference's [2, 2]") &&
                          Contains("its weights could not all be compared (no reference weights)"));
    const Json report = read_json(dir / "r.json");
    CHECK((*find_layer(report, "shared@1"))["reference_shape"] == Json::array({2, 2}));
}
