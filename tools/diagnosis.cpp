#include "tools/diagnosis.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <sstream>

#include "error.h"
#include "tools/parity.h"

namespace krun {

std::string format(double v, int digits) {
    std::ostringstream out;
    out << std::setprecision(digits) << v;
    return out.str();
}

Stats stats_of(const Tensor & t) {
    Stats s;
    if (t.size() == 0) return s;
    s.min = s.max = element_value(t, 0);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < t.size(); ++i) {
        const double v = element_value(t, i);
        sum += v;
        sum2 += v * v;
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
    }
    s.mean = sum / t.size();
    s.std = std::sqrt(std::max(0.0, sum2 / t.size() - s.mean * s.mean));
    return s;
}

std::string stats_text(const Stats & s) {
    return "mean " + format(s.mean) + " std " + format(s.std) + " min " + format(s.min) + " max " + format(s.max);
}

namespace {

bool close_enough(const Tensor & got, const Tensor & expected, double atol, double rtol) {
    return compare_parity(got, expected, atol, rtol).ok();
}

Tensor sorted_copy(const Tensor & t) {
    Tensor s = t.clone();
    std::sort(s.data(), s.data() + s.size());
    return s.reshaped({s.size()});
}

Tensor transposed(const Tensor & t) {
    const int64_t rows = t.dim(0), cols = t.dim(1);
    Tensor out({cols, rows});
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) out.data()[c * rows + r] = t.data()[r * cols + c];
    return out;
}

// `t` with its last axis cut in `order.size()` blocks, block i of the result = block order[i].
Tensor blocks_reordered(const Tensor & t, const std::vector<int> & order) {
    const int64_t last = t.dim(-1), block = last / static_cast<int64_t>(order.size());
    Tensor out(t.shape());
    for (int64_t row = 0; row < t.size() / last; ++row)
        for (size_t b = 0; b < order.size(); ++b)
            std::copy_n(t.data() + row * last + order[b] * block, block, out.data() + row * last + b * block);
    return out;
}

// Whether a weight holds an initializer's values rather than trained ones: all 0 (zeros: biases,
// beta, moving mean), all 1 (ones: gamma, moving variance), or a kernel uniform within the
// Glorot / He / LeCun limit of its fans with the spread of a uniform draw (std = limit / sqrt 3).
std::string fresh_initialisation(const Tensor & t) {
    if (t.size() == 0) return "";
    const Stats s = stats_of(t);
    if (s.min == 0 && s.max == 0) return "all " + std::to_string(t.size()) + " values exactly 0 (the zeros initializer)";
    if (s.min == 1 && s.max == 1) return "all " + std::to_string(t.size()) + " values exactly 1 (the ones initializer)";
    if (t.rank() < 2 || t.size() < 16) return "";
    double receptive = 1;
    for (int64_t d = 0; d + 2 < t.rank(); ++d) receptive *= t.dim(d);
    const double fan_in = t.dim(-2) * receptive, fan_out = t.dim(-1) * receptive;
    const std::pair<const char *, double> limits[] = {{"Glorot-uniform", std::sqrt(6 / (fan_in + fan_out))},
                                                      {"He-uniform", std::sqrt(6 / fan_in)},
                                                      {"LeCun-uniform", std::sqrt(3 / fan_in)}};
    const double reach = std::max(-s.min, s.max);
    for (const auto & [name, limit] : limits) {
        const double uniform_std = limit / std::sqrt(3.0);
        if (reach <= limit * (1 + 1e-6) && reach >= 0.75 * limit && std::fabs(s.std - uniform_std) <= 0.25 * uniform_std &&
            std::fabs(s.mean) <= 0.25 * uniform_std)
            return cat("uniform within the ", name, " limit ", format(limit), " of fan_in ", fan_in, " / fan_out ", fan_out,
                       " (values in [", format(s.min), ", ", format(s.max), "], std ", format(s.std),
                       " vs limit/sqrt(3) = ", format(uniform_std), ")");
    }
    return "";
}

}  // namespace

void judge_weight(const Tensor & got, const Tensor & expected, const std::string & class_name, double atol, double rtol,
                  WeightFinding & f) {
    f.got = stats_of(got);
    f.expected = stats_of(expected);
    if (close_enough(got, expected, atol, rtol)) {
        f.verdict = "equal";
        return;
    }
    if (got.rank() == 2 && expected.rank() == 2 && got.dim(0) == expected.dim(1) && got.dim(1) == expected.dim(0) &&
        close_enough(got, transposed(expected), atol, rtol)) {
        f.verdict = "transposed";
        f.detail = "equal to the reference transposed";
        return;
    }
    const int gates = class_name.find("GRU") != std::string::npos ? 3 : class_name.find("LSTM") != std::string::npos ? 4 : 0;
    if (gates && got.shape() == expected.shape() && got.rank() >= 1 && got.dim(-1) % gates == 0) {
        std::vector<int> order(gates);
        for (int i = 0; i < gates; ++i) order[i] = i;
        while (std::next_permutation(order.begin(), order.end()))
            if (close_enough(got, blocks_reordered(expected, order), atol, rtol)) {
                f.verdict = "gate order";
                std::string text;
                for (int b : order) text += (text.empty() ? "" : ", ") + std::to_string(b);
                f.detail = cat("equal with the ", gates, " gate blocks of ", got.dim(-1) / gates,
                               " units along the last axis in another order: krun's blocks are the reference's [", text, "]");
                return;
            }
    }
    if (got.size() == expected.size() && close_enough(sorted_copy(got), sorted_copy(expected), atol, rtol)) {
        f.verdict = "permutation";
        f.detail = "the same multiset of values in another order (sorted values equal; same statistics, not a fresh "
                   "initialisation)";
        return;
    }
    const std::string fresh = fresh_initialisation(got);
    if (!fresh.empty() && fresh_initialisation(expected) != fresh) {
        f.verdict = "fresh initialisation";
        f.detail = "looks freshly initialised: " + fresh;
        return;
    }
    f.verdict = "different";
    if (got.shape() != expected.shape())
        f.detail = "shape " + shape_string(got.shape()) + ", reference " + shape_string(expected.shape());
}

std::vector<std::string> suspects_for(const std::string & class_name) {
    std::vector<std::string> s;
    if (class_name.find("Conv") != std::string::npos)
        s = {"padding 'same' vs 'valid' (and TF's asymmetric 'same' padding for even kernels or strides)",
             "strides / dilation_rate as read from the config", "the fused activation of the layer"};
    else if (class_name == "BatchNormalization")
        s = {"epsilon (Keras default 1e-3; 1.001e-5 in Keras applications; 1e-5 elsewhere)", "the normalized axis",
             "center / scale switched off (missing beta / gamma)"};
    else if (class_name.find("GRU") != std::string::npos)
        s = {"reset_after (bias [2, 3u] with, [3u] without)", "gate order z, r, h",
             "recurrent_activation: sigmoid vs hard_sigmoid (Keras 2 and 3 hard_sigmoid differ)", "go_backwards / masking"};
    else if (class_name.find("LSTM") != std::string::npos)
        s = {"gate order i, f, c, o", "recurrent_activation: sigmoid vs hard_sigmoid (Keras 2 and 3 hard_sigmoid differ)",
             "go_backwards / masking"};
    else if (class_name == "Dense" || class_name.find("Activation") != std::string::npos || class_name == "ReLU" ||
             class_name == "TFOpLambda" || class_name == "ELU" || class_name == "LeakyReLU")
        s = {"the activation formula of the other Keras version (hard_sigmoid: Keras 2 clip(0.2x + 0.5, 0, 1) vs "
             "Keras 3 relu6(x + 3) / 6; hard_swish; gelu exact vs tanh approximation)",
             "activation parameters (alpha, max_value, threshold, negative_slope)"};
    else if (class_name.find("Pooling") != std::string::npos)
        s = {"padding 'same' vs 'valid' (average pooling counts only valid cells)", "pool_size / strides"};
    else
        s = {"the layer's config options as krun reads them (compare with Keras' get_config())"};
    return s;
}

namespace {

using Unary = std::function<double(double)>;

double hard_sigmoid_k2(double x) { return std::clamp(0.2 * x + 0.5, 0.0, 1.0); }
double relu6(double x) { return std::clamp(x, 0.0, 6.0); }

// Elementwise activations, each in the variants Keras versions use.
const std::vector<std::pair<std::string, Unary>> & activation_variants() {
    static const std::vector<std::pair<std::string, Unary>> variants = {
        {"linear", [](double x) { return x; }},
        {"relu", [](double x) { return std::max(x, 0.0); }},
        {"relu6", relu6},
        {"sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }},
        {"tanh", [](double x) { return std::tanh(x); }},
        {"hard_sigmoid (Keras 2: clip(0.2x + 0.5, 0, 1))", hard_sigmoid_k2},
        {"hard_sigmoid (Keras 3: relu6(x + 3) / 6)", [](double x) { return relu6(x + 3) / 6; }},
        {"hard_swish with the Keras 2 hard_sigmoid (x * clip(0.2x + 0.5, 0, 1))", [](double x) { return x * hard_sigmoid_k2(x); }},
        {"hard_swish (x * relu6(x + 3) / 6)", [](double x) { return x * relu6(x + 3) / 6; }},
        {"gelu exact (erf)", [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
        {"gelu approximate (tanh)",
         [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }},
        {"swish / silu", [](double x) { return x / (1 + std::exp(-x)); }},
        {"elu", [](double x) { return x > 0 ? x : std::expm1(x); }},
        {"selu", [](double x) { return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * std::expm1(x)); }},
        {"softplus", [](double x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0); }},
        {"softsign", [](double x) { return x / (1 + std::fabs(x)); }},
        {"leaky_relu 0.2 (Keras 3 default)", [](double x) { return x > 0 ? x : 0.2 * x; }},
        {"leaky_relu 0.3 (Keras 2 default)", [](double x) { return x > 0 ? x : 0.3 * x; }},
        {"exponential", [](double x) { return std::exp(x); }},
    };
    return variants;
}

}  // namespace

std::vector<std::string> recompute_alternatives(const std::string & class_name, const Evidence & e, double atol,
                                                double rtol) {
    std::vector<std::string> lines;
    if (!e.input || !e.expected || e.input->shape() != e.expected->shape() || e.input->dtype() != DType::Float32)
        return lines;
    const Tensor & x = *e.input;
    auto report = [&](const std::string & what, const Tensor & y) {
        const Parity p = compare_parity(y, *e.expected, atol, rtol);
        lines.push_back(cat(what, ": max abs error ", format(p.max_abs), p.ok() ? " -> MATCHES the reference" : ""));
    };
    const bool elementwise = class_name == "Activation" || class_name == "ReLU" || class_name == "ELU" ||
                             class_name == "LeakyReLU" || class_name == "TFOpLambda" || class_name == "Softmax";
    if (elementwise)
        for (const auto & [name, f] : activation_variants()) {
            Tensor y(x.shape());
            for (int64_t i = 0; i < x.size(); ++i) y.data()[i] = static_cast<float>(f(x.data()[i]));
            report(name, y);
        }
    if (class_name == "BatchNormalization" && e.weights.count("moving_mean") && e.weights.count("moving_variance")) {
        const Tensor & mean = e.weights.at("moving_mean");
        const Tensor & var = e.weights.at("moving_variance");
        const int64_t channels = x.dim(-1);
        if (mean.size() != channels || var.size() != channels) return lines;
        for (double eps : {1e-3, 1.001e-5, 1e-5}) {
            Tensor y(x.shape());
            for (int64_t i = 0; i < x.size(); ++i) {
                const int64_t c = i % channels;
                const double gamma = e.weights.count("gamma") ? e.weights.at("gamma").data()[c] : 1.0;
                const double beta = e.weights.count("beta") ? e.weights.at("beta").data()[c] : 0.0;
                y.data()[i] = static_cast<float>((x.data()[i] - mean.data()[c]) / std::sqrt(var.data()[c] + eps) * gamma + beta);
            }
            report("BatchNormalization with epsilon " + format(eps, 4), y);
        }
    }
    return lines;
}

}  // namespace krun
