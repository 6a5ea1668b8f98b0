// Keras activation formulas, written as TF evaluates them (float32 constants, one rounding per
// TF op). Sources: format-spec.md section 4.6.
#include <algorithm>
#include <cmath>

#include "kernels/ref/ref.h"

namespace krun::ref {

static float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

static float relu6(float x) { return std::min(std::max(x, 0.f), 6.f); }

// tf.math.softplus: exact branches outside +-(log(FLT_EPSILON) + 2), log1p(exp(x)) between.
static float softplus(float x) {
    const float threshold = std::log(1.1920929e-07f) + 2.f;
    if (x > -threshold) return x;
    if (x < threshold) return std::exp(x);
    return std::log1p(std::exp(x));
}

static float apply(const UnaryArgs & op, float x) {
    switch (op.op) {
    case Unary::Linear: return x;
    case Unary::Relu: return x > 0.f ? x : (x != x ? x : 0.f);
    case Unary::Relu6: return x != x ? x : relu6(x);
    case Unary::Sigmoid: return sigmoid(x);
    case Unary::Tanh: return std::tanh(x);
    case Unary::Exponential: return std::exp(x);
    case Unary::HardSigmoidKeras2: {
        float t = x * 0.2f;
        t = t + 0.5f;
        return std::min(std::max(t, 0.f), 1.f);
    }
    case Unary::HardSigmoidKeras3: return relu6(x + 3.f) / 6.f;
    case Unary::HardSilu: return x * (relu6(x + 3.f) / 6.f);
    case Unary::Elu: return x > 0.f ? x : op.alpha * (std::exp(x) - 1.f);
    case Unary::Selu: return x > 0.f ? 1.0507009873554805f * x : 1.7580993408473769f * (std::exp(x) - 1.f);
    case Unary::Gelu: return 0.5f * x * (1.f + std::erf(x / 1.4142135623730951f));
    case Unary::GeluTanh: {
        const float inner = 0.7978845608028654f * (x + 0.044715f * (x * x * x));
        return 0.5f * x * (1.f + std::tanh(inner));
    }
    case Unary::Softplus: return softplus(x);
    case Unary::Softsign: return x / (std::fabs(x) + 1.f);
    case Unary::Swish: return x * sigmoid(x);
    case Unary::Mish: return x * std::tanh(softplus(x));
    case Unary::LeakyRelu: return x >= 0.f ? x : op.alpha * x;
    case Unary::Celu: return std::max(x, 0.f) + std::min(0.f, op.alpha * (std::exp(x / op.alpha) - 1.f));
    case Unary::HardTanh: return std::min(std::max(x, -1.f), 1.f);
    case Unary::HardShrink: return std::fabs(x) > op.alpha ? x : 0.f;
    case Unary::SoftShrink: return x > op.alpha ? x - op.alpha : (x < -op.alpha ? x + op.alpha : 0.f);
    case Unary::TanhShrink: return x - std::tanh(x);
    case Unary::SparsePlus: return x <= -1.f ? 0.f : (x >= 1.f ? x : (x + 1.f) * (x + 1.f) / 4.f);
    case Unary::SparseSigmoid: return x <= -1.f ? 0.f : (x >= 1.f ? 1.f : 0.5f * (x + 1.f));
    case Unary::Squareplus: return (x + std::sqrt(x * x + op.alpha)) / 2.f;
    case Unary::LogSigmoid: return -softplus(-x);
    case Unary::Threshold: return x > op.alpha ? x : op.beta;
    case Unary::Square: return x * x;
    case Unary::Sqrt: return std::sqrt(x);
    case Unary::Rsqrt: return 1.f / std::sqrt(x);
    case Unary::Negative: return -x;
    case Unary::Abs: return std::fabs(x);
    case Unary::Log: return std::log(x);
    case Unary::Reciprocal: return 1.f / x;
    case Unary::ScaleShift: return op.alpha * x + op.beta;
    }
    return x;
}

void unary(const UnaryArgs & op, const float * x, float * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = apply(op, x[i]);
}

void binary(Binary op, const float * a, int64_t a_step, const float * b, int64_t b_step, float * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float u = a[i * a_step], v = b[i * b_step];
        float r = 0.f;
        switch (op) {
        case Binary::Add: r = u + v; break;
        case Binary::Subtract: r = u - v; break;
        case Binary::Multiply: r = u * v; break;
        case Binary::Divide: r = u / v; break;
        case Binary::Maximum: r = (u != u || v != v) ? u + v : std::max(u, v); break;
        case Binary::Minimum: r = (u != u || v != v) ? u + v : std::min(u, v); break;
        case Binary::Power: r = std::pow(u, v); break;
        case Binary::SquaredDifference: r = (u - v) * (u - v); break;
        }
        y[i] = r;
    }
}

// TF CPU softmax: e = exp(x - max), then e * (1 / sum(e)); log-softmax: (x - max) - log(sum(e)).
void softmax(const float * x, float * y, int64_t outer, int64_t axis_len, int64_t inner, bool log) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const float * in = x + o * axis_len * inner + i;
            float * out = y + o * axis_len * inner + i;
            float top = in[0];
            for (int64_t a = 1; a < axis_len; ++a) top = std::max(top, in[a * inner]);
            float sum = 0.f;
            for (int64_t a = 0; a < axis_len; ++a) sum += std::exp(in[a * inner] - top);
            if (log) {
                const float log_sum = std::log(sum);
                for (int64_t a = 0; a < axis_len; ++a) out[a * inner] = (in[a * inner] - top) - log_sum;
            } else {
                const float scale = 1.f / sum;
                for (int64_t a = 0; a < axis_len; ++a) out[a * inner] = std::exp(in[a * inner] - top) * scale;
            }
        }
}

}  // namespace krun::ref
