// Batches: every fixture whose inputs have an unknown batch dimension, run on its input repeated
// to batch 8 and 32, gives per sample what the original input gives (Keras layers treat the
// samples of a batch independently). Model::run computes such a batch one sample at a time when
// every layer says it may (Layer::per_sample); the graph run whole, as krun check runs it, must
// agree; and a layer that mixes samples keeps the batch whole.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

#include "loader/load_model.h"
#include "loader/npy.h"
#include "support/helpers.h"
#include "support/tolerance.h"

using namespace krun;
using namespace krun::test;

namespace {

// `t` repeated `times` times along axis 0.
Tensor repeated(const Tensor & t, int64_t times) {
    std::vector<int64_t> shape = t.shape();
    shape[0] *= times;
    Tensor out(shape, t.dtype());
    const void * from = t.dtype() == DType::Int32 ? static_cast<const void *>(t.data_i32()) : t.data();
    char * to = t.dtype() == DType::Int32 ? reinterpret_cast<char *>(out.data_i32()) : reinterpret_cast<char *>(out.data());
    for (int64_t i = 0; i < times; ++i) std::memcpy(to + i * t.size() * 4, from, t.size() * 4);
    return out;
}

}  // namespace

TEST_CASE("batch: fixtures run on batches of 8 and 32 give each sample's own result", "[batch]") {
    int checked = 0;
    for (const Fixture & f : fixtures()) {
        if (f.expect_error) continue;
        INFO("fixture " << f.name);
        const Model model = Model::load(f.model_json);
        const std::shared_ptr<Graph> graph = load_graph(f.model_json, Options());
        bool batched = true;
        for (const TensorInfo & in : model.inputs()) batched = batched && !in.shape.empty() && in.shape[0] < 0;
        if (!batched) continue;
        const std::vector<Tensor> inputs = read_all(f.inputs);
        const int64_t batch = inputs[0].dim(0);
        const std::vector<Tensor> single = model.run(inputs);
        for (int64_t target : {8, 32}) {
            if (target % batch != 0) continue;
            std::vector<Tensor> big;
            for (const Tensor & t : inputs) big.push_back(repeated(t, target / batch));
            const std::vector<Tensor> got = model.run(big);
            REQUIRE(got.size() == single.size());
            for (size_t k = 0; k < got.size(); ++k) {
                const Parity parity = compare_parity(got[k], repeated(single[k], target / batch), kBatchAtol, kBatchRtol);
                INFO("batch " << target << ", output " << k << ": " << describe(parity));
                CHECK(parity.ok());
            }
            if (target != 8) continue;  // (32 adds little but time under the sanitizers)
            // An observer makes the graph run the batch whole.
            const std::vector<Tensor> whole = graph->run(big, [](size_t, const std::vector<Tensor> &) {});
            for (size_t k = 0; k < got.size(); ++k) {
                const Parity parity = compare_parity(got[k], whole[k], kBatchAtol, kBatchRtol);
                INFO("batch " << target << " whole, output " << k << ": " << describe(parity));
                CHECK(parity.ok());
            }
        }
        ++checked;
    }
    CHECK(checked >= 50);
}

TEST_CASE("batch: a softmax over the batch axis keeps the batch whole", "[batch]") {
    TempDir dir;
    krun::test::Json doc = dense_model_document(dir);
    const krun::test::Json softmax = {{"class_name", "Softmax"}, {"config", {{"name", "softmax"}, {"trainable", true}, {"dtype", "float32"}, {"axis", 0}}}};
    doc["modelTopology"]["model_config"] = sequential("sequential", {input_layer("in", {nullptr, 2}), softmax});
    doc.erase("weightsManifest");
    const Model model = Model::load(write_model(dir, doc));
    const std::vector<float> x = {0.f, 1.f, 2.f, -1.f, 4.f, 0.5f};  // 3 samples of 2
    const std::vector<float> y = run_one(model, {3, 2}, x);
    for (int col = 0; col < 2; ++col) {
        double sum = 0;
        for (int row = 0; row < 3; ++row) sum += std::exp(double(x[row * 2 + col]));
        for (int row = 0; row < 3; ++row)
            CHECK(std::fabs(y[row * 2 + col] - std::exp(double(x[row * 2 + col])) / sum) <= 1e-6);
    }
}
