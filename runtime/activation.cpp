#include "activation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace krun {

Activation parse_activation(const Json & value, KerasVersion keras, const std::string & context) {
    std::string name = "linear";
    if (value.is_string()) {
        name = value.get<std::string>();
    } else if (value.is_object() && value.contains("class_name") && value["class_name"].is_string()) {
        name = value["class_name"].get<std::string>();  // Keras 3 may serialize a function object
        if (value.contains("config") && value["config"].is_string()) name = value["config"].get<std::string>();
    } else if (!value.is_null()) {
        fail(context, ": activation should be a name, found ", value.dump());
    }

    const bool k3 = keras == KerasVersion::Keras3;
    static const std::map<std::string, UnaryArgs> common = {
        {"linear", {Unary::Linear}},       {"relu", {Unary::Relu}},
        {"relu6", {Unary::Relu6}},         {"sigmoid", {Unary::Sigmoid}},
        {"tanh", {Unary::Tanh}},           {"exponential", {Unary::Exponential}},
        {"elu", {Unary::Elu, 1.f}},        {"selu", {Unary::Selu}},
        {"gelu", {Unary::Gelu}},           {"softplus", {Unary::Softplus}},
        {"softsign", {Unary::Softsign}},   {"swish", {Unary::Swish}},
        {"silu", {Unary::Swish}},          {"mish", {Unary::Mish}},
        {"leaky_relu", {Unary::LeakyRelu, 0.2f}},
    };
    // Keras 3 only (format-spec 4.6); their defaults are those of keras.activations.
    static const std::map<std::string, UnaryArgs> keras3_only = {
        {"hard_silu", {Unary::HardSilu}},           {"hard_swish", {Unary::HardSilu}},
        {"celu", {Unary::Celu, 1.f}},               {"hard_tanh", {Unary::HardTanh}},
        {"hard_shrink", {Unary::HardShrink, 0.5f}}, {"soft_shrink", {Unary::SoftShrink, 0.5f}},
        {"tanh_shrink", {Unary::TanhShrink}},       {"sparse_plus", {Unary::SparsePlus}},
        {"sparse_sigmoid", {Unary::SparseSigmoid}}, {"squareplus", {Unary::Squareplus, 4.f}},
        {"log_sigmoid", {Unary::LogSigmoid}},
    };

    Activation act;
    act.name = name;
    if (name == "softmax") {
        act.kind = Activation::Kind::Softmax;
    } else if (name == "log_softmax") {
        act.kind = Activation::Kind::LogSoftmax;
    } else if (name == "glu" && k3) {
        act.kind = Activation::Kind::Glu;
    } else if (name == "sparsemax" && k3) {
        act.kind = Activation::Kind::Sparsemax;
    } else if (name == "hard_sigmoid") {
        act.unary.op = k3 ? Unary::HardSigmoidKeras3 : Unary::HardSigmoidKeras2;
    } else if (auto it = common.find(name); it != common.end()) {
        act.unary = it->second;
    } else if (auto it3 = keras3_only.find(name); it3 != keras3_only.end() && k3) {
        act.unary = it3->second;
    } else {
        fail(context, ": unknown activation '", name, "' for ", k3 ? "Keras 3" : "Keras 2");
    }
    return act;
}

Activation parse_activation(const LayerDesc & desc, const std::string & key, const std::string & fallback) {
    const Json & cfg = *desc.config;
    if (cfg.is_object() && cfg.contains(key) && !cfg[key].is_null())
        return parse_activation(cfg[key], desc.keras, desc.context());
    return parse_activation(Json(fallback), desc.keras, desc.context());
}

// Keras 3 sparsemax along one row, exactly as keras.activations.sparsemax computes it: the
// support is every k with sorted[k] - (cumsum[k] - 1) / (k + 1) > 0, and tau sums the cumulative
// sums over the support (not the textbook cumsum at the support size).
static void sparsemax_row(const float * x, float * y, int64_t len) {
    std::vector<float> sorted(x, x + len);
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    float cumsum = 0.f, support_cumsum = 0.f;
    int64_t support = 0;
    for (int64_t k = 0; k < len; ++k) {
        cumsum += sorted[k];
        if (sorted[k] - (cumsum - 1.f) / static_cast<float>(k + 1) > 0.f) {
            ++support;
            support_cumsum += cumsum;
        }
    }
    const float tau = (support_cumsum - 1.f) / static_cast<float>(support);
    for (int64_t i = 0; i < len; ++i) y[i] = std::max(x[i] - tau, 0.f);
}

void apply_activation(const Activation & act, const float * x, float * y, int64_t n, int64_t last_dim,
                      const Kernels & kernels) {
    const int64_t rows = last_dim > 0 ? n / last_dim : 0;
    switch (act.kind) {
    case Activation::Kind::Elementwise: kernels.unary(act.unary, x, y, n); break;
    case Activation::Kind::Softmax: kernels.softmax(x, y, rows, last_dim, 1, false); break;
    case Activation::Kind::LogSoftmax: kernels.softmax(x, y, rows, last_dim, 1, true); break;
    case Activation::Kind::Sparsemax:
        for (int64_t r = 0; r < rows; ++r) sparsemax_row(x + r * last_dim, y + r * last_dim, last_dim);
        break;
    case Activation::Kind::Glu: {
        // glu(x) = a * sigmoid(b) with [a, b] the two halves of the last axis.
        const int64_t half = last_dim / 2;
        const UnaryArgs sigmoid{Unary::Sigmoid};
        for (int64_t r = 0; r < rows; ++r) {
            const float * a = x + r * last_dim;
            float * out = y + r * half;
            kernels.unary(sigmoid, a + half, out, half);
            kernels.binary(Binary::Multiply, a, 1, out, 1, out, half);
        }
        break;
    }
    }
}

}  // namespace krun
