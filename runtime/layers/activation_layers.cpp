// Keras activation layers: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU.
// Config: activation; max_value/negative_slope/threshold (ReLU); alpha or negative_slope
// (LeakyReLU); alpha, shared_axes (PReLU); alpha (ELU); axis (Softmax); theta. Kernels: unary, binary, softmax.
#include <algorithm>
#include <cmath>

#include "activation.h"
#include "layers/factories.h"

namespace krun {

namespace {

// A layer whose one float32 input and output have the same shape.
class ElementwiseLayer : public Layer {
public:
    using Layer::Layer;
    bool per_sample(const std::vector<Spec> &) const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 1, 8);
        check_shape(inputs[0].shape);
        return {{inputs[0].shape}};
    }

protected:
    virtual void check_shape(const Shape & shape) const {}
};

class ActivationLayer : public Layer {
public:
    explicit ActivationLayer(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        activation_ = parse_activation(desc, "activation");
    }
    // Softmax-like activations work along the last axis: the batch axis only at rank 1.
    bool per_sample(const std::vector<Spec> & inputs) const override { return inputs[0].shape.size() >= 2; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 1, 8);
        Shape out = inputs[0].shape;
        if (activation_.kind == Activation::Kind::Glu) {
            KRUN_CHECK(out.back() < 0 || out.back() % 2 == 0, context(), ": glu needs an even last dimension, input is ",
                       shape_string(out));
            if (out.back() > 0) out.back() /= 2;
        }
        return {{out}};
    }

    bool as_unary(UnaryArgs & op) const override {
        op = activation_.unary;
        return activation_.kind == Activation::Kind::Elementwise;
    }

    bool writes_every_output() const override { return true; }

    // The output is a separate buffer, so Glu (which halves the last axis) never runs in place.
    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        apply_activation(activation_, x.data(), outputs[0].data(), x.size(), x.shape().back(), kernels);
    }

private:
    Activation activation_;
};

// Keras ReLU layer (format-spec 4.7): keras.activations.relu / tf_keras backend.relu with
// negative_slope, max_value and threshold, op by op.
class ReLU : public ElementwiseLayer {
public:
    explicit ReLU(const LayerDesc & desc) : ElementwiseLayer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        has_max_ = cfg.has("max_value");
        const double max_value = cfg.number("max_value", 0.0);
        const double slope = cfg.number("negative_slope", 0.0);
        const double threshold = cfg.number("threshold", 0.0);
        KRUN_CHECK(!has_max_ || max_value >= 0, context(), ": max_value must be >= 0, got ", max_value);
        KRUN_CHECK(slope >= 0, context(), ": negative_slope must be >= 0, got ", slope);
        max_value_ = static_cast<float>(max_value);
        slope_ = static_cast<float>(slope);
        threshold_ = static_cast<float>(threshold);
        relu6_ = has_max_ && max_value == 6.0 && threshold == 0.0;
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const float * x = inputs[0]->data();
        float * y = outputs[0].data();
        const int64_t n = inputs[0]->size();
        if (slope_ != 0.f && !has_max_ && threshold_ == 0.f) {
            kernels.unary({Unary::LeakyRelu, slope_}, x, y, n);
            return;
        }
        std::vector<float> negative_part;
        if (slope_ != 0.f) {
            // relu(threshold - x)
            negative_part.resize(n);
            kernels.binary(Binary::Subtract, &threshold_, 0, x, 1, negative_part.data(), n);
            kernels.unary({Unary::Relu}, negative_part.data(), negative_part.data(), n);
        }
        if (threshold_ != 0.f) kernels.unary({Unary::Threshold, threshold_, 0.f}, x, y, n);
        else kernels.unary({relu6_ ? Unary::Relu6 : Unary::Relu}, x, y, n);
        if (has_max_ && !relu6_) {
            // tf.clip_by_value(y, 0, max_value)
            const float zero = 0.f;
            kernels.binary(Binary::Minimum, y, 1, &max_value_, 0, y, n);
            kernels.binary(Binary::Maximum, y, 1, &zero, 0, y, n);
        }
        if (slope_ != 0.f) {
            // y -= negative_slope * negative_part
            kernels.binary(Binary::Multiply, &slope_, 0, negative_part.data(), 1, negative_part.data(), n);
            kernels.binary(Binary::Subtract, y, 1, negative_part.data(), 1, y, n);
        }
    }

    // The cases run() computes with one unary kernel call.
    bool as_unary(UnaryArgs & op) const override {
        if (slope_ != 0.f && !has_max_ && threshold_ == 0.f) op = {Unary::LeakyRelu, slope_};
        else if (slope_ == 0.f && threshold_ != 0.f && !has_max_) op = {Unary::Threshold, threshold_, 0.f};
        else if (slope_ == 0.f && threshold_ == 0.f && (!has_max_ || relu6_)) op = {relu6_ ? Unary::Relu6 : Unary::Relu};
        else return false;
        return true;
    }

private:
    bool has_max_ = false, relu6_ = false;
    float max_value_ = 0.f, slope_ = 0.f, threshold_ = 0.f;
};

// LeakyReLU, ELU and ThresholdedReLU: one unary kernel call.
class UnaryLayer : public ElementwiseLayer {
public:
    UnaryLayer(const LayerDesc & desc, UnaryArgs op) : ElementwiseLayer(desc.name, desc.class_name), op_(op) {}

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        kernels.unary(op_, inputs[0]->data(), outputs[0].data(), inputs[0]->size());
    }

    bool as_unary(UnaryArgs & op) const override {
        op = op_;
        return true;
    }

private:
    UnaryArgs op_;
};

// y = relu(x) - alpha * relu(-x) = max(x, 0) + alpha * min(x, 0), alpha of shape input[1:] with
// the shared axes of size 1.
class PReLU : public ElementwiseLayer {
public:
    explicit PReLU(const LayerDesc & desc) : ElementwiseLayer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        if (cfg.has("shared_axes")) shared_axes_ = cfg.integers("shared_axes", 0);
        alpha_ = declare_weight("alpha");
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const Tensor & alpha = weight(alpha_);
        const int64_t batch = x.shape()[0], sample = x.size() / std::max<int64_t>(batch, 1);
        // alpha broadcast to one sample: the shared axes repeat it.
        std::vector<float> expanded(sample);
        const Shape & dims = x.shape();
        const Shape & alpha_dims = alpha.shape();
        for (int64_t flat = 0; flat < sample; ++flat) {
            int64_t rest = flat, index = 0, stride = 1;
            for (size_t d = dims.size(); d-- > 1;) {
                const int64_t coord = rest % dims[d];
                rest /= dims[d];
                if (alpha_dims[d - 1] != 1) index += coord * stride;
                stride *= alpha_dims[d - 1];
            }
            expanded[flat] = alpha.data()[index];
        }
        const float zero = 0.f;
        std::vector<float> negative(sample);
        for (int64_t b = 0; b < batch; ++b) {
            const float * in = x.data() + b * sample;
            float * out = outputs[0].data() + b * sample;
            kernels.binary(Binary::Minimum, in, 1, &zero, 0, negative.data(), sample);
            kernels.binary(Binary::Multiply, expanded.data(), 1, negative.data(), 1, negative.data(), sample);
            kernels.binary(Binary::Maximum, in, 1, &zero, 0, out, sample);
            kernels.binary(Binary::Add, out, 1, negative.data(), 1, out, sample);
        }
    }

protected:
    void check_shape(const Shape & shape) const override {
        KRUN_CHECK(shape.size() >= 2, context(), ": input must have rank >= 2, is ", shape_string(shape));
        Shape expected(shape.begin() + 1, shape.end());
        for (int64_t a : shared_axes_) {
            KRUN_CHECK(a >= 1 && a < static_cast<int64_t>(shape.size()), context(), ": shared axis ", a,
                       " is out of range for input ", shape_string(shape));
            expected[a - 1] = 1;
        }
        for (size_t d = 0; d < expected.size(); ++d)
            KRUN_CHECK(expected[d] > 0, context(), ": dimension ", d + 1, " of the input must be known or shared, input is ",
                       shape_string(shape));
        check_weight(alpha_, expected, cat("input ", shape_string(shape), " with shared axes"));
    }

private:
    std::vector<int64_t> shared_axes_;
    size_t alpha_ = 0;
};

// Softmax over one axis (tf.nn.softmax), or over several (exp(x - logsumexp(x, axes))).
class Softmax : public ElementwiseLayer {
public:
    explicit Softmax(const LayerDesc & desc) : ElementwiseLayer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        multi_axis_ = cfg.has("axis") && cfg.json()["axis"].is_array() && cfg.json()["axis"].size() > 1;
        axes_ = cfg.integers("axis", 0, -1);
    }
    bool per_sample(const std::vector<Spec> & inputs) const override {
        return spares_batch_axis(axes_, static_cast<int64_t>(inputs[0].shape.size()));
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        int64_t first = 0, last = 0;
        resolve(x.shape(), first, last);
        int64_t outer = 1, len = 1, inner = 1;
        for (int64_t d = 0; d < x.rank(); ++d) (d < first ? outer : d <= last ? len : inner) *= x.shape()[d];
        if (!multi_axis_) {
            kernels.softmax(x.data(), outputs[0].data(), outer, len, inner, false);
            return;
        }
        // tf.reduce_logsumexp: max (0 when not finite) + log(sum(exp(x - max))); y = exp(x - lse).
        float * y = outputs[0].data();
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const float * in = x.data() + o * len * inner + i;
                float top = in[0];
                for (int64_t a = 1; a < len; ++a) top = std::max(top, in[a * inner]);
                if (!std::isfinite(top)) top = 0.f;
                float sum = 0.f;
                for (int64_t a = 0; a < len; ++a) sum += std::exp(in[a * inner] - top);
                const float lse = std::log(sum) + top;
                for (int64_t a = 0; a < len; ++a) y[o * len * inner + i + a * inner] = in[a * inner] - lse;
            }
        kernels.unary({Unary::Exponential}, y, y, x.size());
    }

protected:
    void check_shape(const Shape & shape) const override {
        int64_t first = 0, last = 0;
        resolve(shape, first, last);
    }

private:
    // The softmax axes as the range [first, last]; throws unless they are contiguous.
    void resolve(const Shape & shape, int64_t & first, int64_t & last) const {
        const int64_t rank = static_cast<int64_t>(shape.size());
        std::vector<int64_t> axes;
        for (int64_t a : axes_) {
            KRUN_CHECK(a >= -rank && a < rank, context(), ": axis ", a, " is out of range for input ", shape_string(shape));
            axes.push_back(a < 0 ? a + rank : a);
        }
        std::sort(axes.begin(), axes.end());
        for (size_t i = 1; i < axes.size(); ++i)
            KRUN_CHECK(axes[i] == axes[i - 1] + 1, context(), ": softmax axes must be distinct and contiguous, got ",
                       shape_string(axes));
        first = axes.front();
        last = axes.back();
    }

    std::vector<int64_t> axes_;
    bool multi_axis_ = false;
};

}  // namespace

std::unique_ptr<Layer> make_activation(const LayerDesc & desc) { return std::make_unique<ActivationLayer>(desc); }

std::unique_ptr<Layer> make_relu(const LayerDesc & desc) { return std::make_unique<ReLU>(desc); }

std::unique_ptr<Layer> make_leaky_relu(const LayerDesc & desc) {
    const Config cfg = desc.cfg();
    // tf-keras and TF.js write `alpha`, Keras 3 `negative_slope`; both default to 0.3.
    const double slope = cfg.has("negative_slope") ? cfg.number("negative_slope", 0.3) : cfg.number("alpha", 0.3);
    return std::make_unique<UnaryLayer>(desc, UnaryArgs{Unary::LeakyRelu, static_cast<float>(slope)});
}

std::unique_ptr<Layer> make_prelu(const LayerDesc & desc) { return std::make_unique<PReLU>(desc); }

std::unique_ptr<Layer> make_elu(const LayerDesc & desc) {
    return std::make_unique<UnaryLayer>(desc, UnaryArgs{Unary::Elu, static_cast<float>(desc.cfg().number("alpha", 1.0))});
}

std::unique_ptr<Layer> make_softmax(const LayerDesc & desc) { return std::make_unique<Softmax>(desc); }

std::unique_ptr<Layer> make_thresholded_relu(const LayerDesc & desc) {
    // x > theta ? x : 0
    const float theta = static_cast<float>(desc.cfg().number("theta", 1.0));
    return std::make_unique<UnaryLayer>(desc, UnaryArgs{Unary::Threshold, theta, 0.f});
}

}  // namespace krun
