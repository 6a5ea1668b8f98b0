// Keras BatchNormalization (inference), LayerNormalization, Rescaling and Normalization.
// Config: axis (int or list of contiguous axes), epsilon, center, scale, rms_scaling (Keras 3 LN),
// scale/offset (Rescaling), mean/variance/invert (Normalization). Kernels: binary.
#include <algorithm>
#include <cmath>
#include <functional>

#include "layers/factories.h"

namespace krun {

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

// tf-keras LayerNormalization only uses fused_batch_norm for epsilon >= this. (Older TF also
// raised a smaller BatchNormalization epsilon to it inside fused_batch_norm; TF 2.21 does not, and
// its outputs match the unclamped epsilon exactly, so krun does not clamp.)
constexpr double kFusedMinEpsilon = 1.001e-5;

// The axes of a config `axis` value (int or list; absent/null: none) for an input of `rank`,
// made non-negative and sorted. They must be contiguous: the input is then seen as
// [outer, span, inner] with the normalized axes in `span`.
std::vector<int64_t> resolve_axes(const std::vector<int64_t> & axes, int64_t rank, const std::string & context) {
    std::vector<int64_t> out;
    for (int64_t a : axes) {
        KRUN_CHECK(a >= -rank && a < rank, context, ": axis ", a, " is out of range for an input of rank ", rank);
        out.push_back(a < 0 ? a + rank : a);
    }
    std::sort(out.begin(), out.end());
    for (size_t i = 1; i < out.size(); ++i) {
        KRUN_CHECK(out[i] != out[i - 1], context, ": axis ", out[i], " is listed twice");
        KRUN_CHECK(out[i] == out[i - 1] + 1, context, ": axes must be contiguous, got ", shape_string(out));
    }
    return out;
}

// The dimensions of `axes` (all must be known): the shape of per-position parameters.
Shape axis_dims(const Shape & shape, const std::vector<int64_t> & axes, const std::string & context) {
    Shape dims;
    for (int64_t a : axes) {
        KRUN_CHECK(shape[a] > 0, context, ": dimension ", a, " of the input must be known, input is ",
                   shape_string(shape));
        dims.push_back(shape[a]);
    }
    return dims;
}

int64_t product(const Shape & dims) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
}

struct AxisView {
    int64_t outer = 1, span = 1, inner = 1;
};

// `shape` (concrete) seen as [outer, span, inner] with `axes` (contiguous) in span. No axes: the
// parameters are scalars, every element is in `inner`.
AxisView axis_view(const Shape & shape, const std::vector<int64_t> & axes) {
    AxisView v;
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t first = axes.empty() ? 0 : axes.front(), last = axes.empty() ? -1 : axes.back();
    for (int64_t d = 0; d < rank; ++d) {
        if (d < first) v.outer *= shape[d];
        else if (d <= last) v.span *= shape[d];
        else v.inner *= shape[d];
    }
    return v;
}

// y = x (op) param[s] for every element at span position s.
void binary_along(const Kernels & kernels, Binary op, const float * x, const float * param, float * y,
                  const AxisView & v) {
    for (int64_t o = 0; o < v.outer; ++o) {
        const int64_t base = o * v.span * v.inner;
        if (v.inner == 1) {
            kernels.binary(op, x + base, 1, param, 1, y + base, v.span);
            continue;
        }
        for (int64_t s = 0; s < v.span; ++s)
            kernels.binary(op, x + base + s * v.inner, 1, param + s, 0, y + base + s * v.inner, v.inner);
    }
}

// Throws unless weight `slot` holds prod(dims) values laid out as `dims` (tf-keras multi-axis
// BatchNormalization stores them with 1 for the other axes).
void check_param(const Layer & layer, const WeightSlot & w, const Shape & dims) {
    Shape squeezed;
    for (int64_t d : w.value.shape())
        if (d != 1) squeezed.push_back(d);
    Shape expected;
    for (int64_t d : dims)
        if (d != 1) expected.push_back(d);
    KRUN_CHECK(squeezed == expected, layer.context(), ": weight '", w.source, "' has shape ",
               shape_string(w.value.shape()), ", expected ", shape_string(dims), " (the normalized axes of the input)");
}

// ---------------------------------------------------------------------------------------------

class BatchNormalization : public Layer {
public:
    explicit BatchNormalization(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        axis_ = cfg.integers("axis", 0, -1);
        epsilon_ = cfg.number("epsilon", 1e-3);
        const bool renorm = cfg.boolean("renorm", false);
        // tf-keras runs FusedBatchNormV3 when it can (format-spec 4.5); rank decides in infer.
        fused_capable_ = desc.keras == KerasVersion::Keras2 && axis_.size() == 1 && !renorm &&
                         !cfg.has("virtual_batch_size") && cfg.boolean("fused", true) &&
                         !cfg.boolean("synchronized", false);
        if (cfg.boolean("scale", true)) gamma_ = declare_weight("gamma");
        if (cfg.boolean("center", true)) beta_ = declare_weight("beta");
        mean_ = declare_weight("moving_mean");
        variance_ = declare_weight("moving_variance");
        // Batch renormalization only changes training; its statistics are stored but unused here.
        if (renorm) {
            declare_weight("moving_stddev");
            declare_weight("renorm_mean");
            declare_weight("renorm_stddev");
        }
    }

    bool per_sample(const std::vector<Spec> & inputs) const override {
        return spares_batch_axis(axis_, static_cast<int64_t>(inputs[0].shape.size()));
    }

    void prepare() override {
        Layer::prepare();
        const int64_t channels = weight(mean_).size();
        for (size_t slot : {gamma_, beta_, variance_})
            if (slot != kNone)
                KRUN_CHECK(weight(slot).size() == channels, context(), ": weight '", weight_slots()[slot].source,
                           "' has ", weight(slot).size(), " values, moving_mean has ", channels);
        const float * mean = weight(mean_).data();
        const float * var = weight(variance_).data();
        const float eps = static_cast<float>(epsilon_);
        inv_.resize(channels);
        offset_.resize(channels);
        beta_values_.assign(channels, 0.f);
        for (int64_t c = 0; c < channels; ++c) {
            const float gamma = gamma_ != kNone ? weight(gamma_).data()[c] : 1.f;
            const float beta = beta_ != kNone ? weight(beta_).data()[c] : 0.f;
            // inv = rsqrt(var + eps) * gamma, the scale of both formulas.
            inv_[c] = (1.f / std::sqrt(var[c] + eps)) * gamma;
            const float mean_inv = mean[c] * inv_[c];
            offset_[c] = beta - mean_inv;
            beta_values_[c] = beta;
        }
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 1, 8);
        const Shape & shape = inputs[0].shape;
        const std::vector<int64_t> axes = resolve_axes(axis_, static_cast<int64_t>(shape.size()), context());
        KRUN_CHECK(!axes.empty(), context(), ": axis must name at least one axis");
        const Shape dims = axis_dims(shape, axes, context());
        for (size_t slot : {gamma_, beta_, mean_, variance_})
            if (slot != kNone) check_param(*this, weight_slots()[slot], dims);
        return {{shape}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const std::vector<int64_t> axes = resolve_axes(axis_, x.rank(), context());
        const AxisView v = axis_view(x.shape(), axes);
        float * y = outputs[0].data();
        if (uses_fused(x.rank(), axes.front())) {
            // FusedBatchNormV3 (CPU, inference): y = (x - mean) * inv + beta
            binary_along(kernels, Binary::Subtract, x.data(), weight(mean_).data(), y, v);
            binary_along(kernels, Binary::Multiply, y, inv_.data(), y, v);
            binary_along(kernels, Binary::Add, y, beta_values_.data(), y, v);
        } else {
            // tf.nn.batch_normalization: y = x * inv + (beta - mean * inv)
            binary_along(kernels, Binary::Multiply, x.data(), inv_.data(), y, v);
            binary_along(kernels, Binary::Add, y, offset_.data(), y, v);
        }
    }

    // scale = gamma / sqrt(var + eps), shift = beta - mean * scale, in double (the fast path folds
    // them into the layer before; either formula of run() rounds differently by a few ulps).
    bool as_channel_affine(int64_t rank, std::vector<double> & scale, std::vector<double> & shift) const override {
        const std::vector<int64_t> axes = resolve_axes(axis_, rank, context());
        if (axes.size() != 1 || axes[0] != rank - 1) return false;
        const int64_t channels = weight(mean_).size();
        scale.resize(channels);
        shift.resize(channels);
        for (int64_t c = 0; c < channels; ++c) {
            const double gamma = gamma_ != kNone ? weight(gamma_).data()[c] : 1.0;
            const double beta = beta_ != kNone ? weight(beta_).data()[c] : 0.0;
            scale[c] = gamma / std::sqrt(static_cast<double>(weight(variance_).data()[c]) + epsilon_);
            shift[c] = beta - weight(mean_).data()[c] * scale[c];
        }
        return true;
    }

private:
    bool uses_fused(int64_t rank, int64_t axis) const {
        return fused_capable_ && ((rank == 4 && (axis == 1 || axis == 3)) || (rank == 5 && (axis == 1 || axis == 4)));
    }

    std::vector<int64_t> axis_;
    double epsilon_ = 1e-3;
    bool fused_capable_ = false;
    size_t gamma_ = kNone, beta_ = kNone, mean_ = kNone, variance_ = kNone;
    std::vector<float> inv_, offset_, beta_values_;
};

// ---------------------------------------------------------------------------------------------

class LayerNormalization : public Layer {
public:
    explicit LayerNormalization(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        axis_ = cfg.integers("axis", 0, -1);
        epsilon_ = cfg.number("epsilon", 1e-3);
        rms_scaling_ = cfg.boolean("rms_scaling", false);
        // tf-keras LayerNormalization runs fused_batch_norm when the axes end the shape and
        // epsilon is not below the fused minimum (tf_keras layer_normalization.py).
        fused_capable_ = desc.keras == KerasVersion::Keras2 && epsilon_ >= kFusedMinEpsilon;
        if (cfg.boolean("scale", true) || rms_scaling_) gamma_ = declare_weight("gamma");
        if (cfg.boolean("center", true) && !rms_scaling_) beta_ = declare_weight("beta");
    }

    bool per_sample(const std::vector<Spec> & inputs) const override {
        return spares_batch_axis(axis_, static_cast<int64_t>(inputs[0].shape.size()));
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 1, 8);
        const Shape & shape = inputs[0].shape;
        const std::vector<int64_t> axes = resolve_axes(axis_, static_cast<int64_t>(shape.size()), context());
        KRUN_CHECK(!axes.empty(), context(), ": axis must name at least one axis");
        const Shape dims = axis_dims(shape, axes, context());
        for (const WeightSlot & w : weight_slots()) check_param(*this, w, dims);
        return {{shape}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const std::vector<int64_t> axes = resolve_axes(axis_, x.rank(), context());
        const AxisView v = axis_view(x.shape(), axes);
        const bool fused = fused_capable_ && axes.back() == x.rank() - 1;
        const float eps = static_cast<float>(epsilon_);
        const float * gamma = gamma_ != kNone ? weight(gamma_).data() : nullptr;
        const float * beta = beta_ != kNone ? weight(beta_).data() : nullptr;
        const float count = static_cast<float>(v.span);
        const float inv_count = 1.f / count;
        // Each (outer, inner) pair is one row of `span` elements, `inner` apart.
        for (int64_t o = 0; o < v.outer; ++o)
            for (int64_t i = 0; i < v.inner; ++i) {
                const float * in = x.data() + o * v.span * v.inner + i;
                float * out = outputs[0].data() + o * v.span * v.inner + i;
                float sum = 0.f;
                for (int64_t s = 0; s < v.span; ++s) sum += in[s * v.inner];
                // tf.nn.moments divides; the fused kernel multiplies by 1/count.
                const float mean = fused ? sum * inv_count : sum / count;
                float squares = 0.f;
                for (int64_t s = 0; s < v.span; ++s) {
                    const float d = in[s * v.inner] - mean;
                    squares += d * d;
                }
                const float var = fused ? squares * inv_count : squares / count;
                const float r = 1.f / std::sqrt(var + eps);
                for (int64_t s = 0; s < v.span; ++s) {
                    const float value = in[s * v.inner];
                    float y;
                    if (rms_scaling_) {
                        // Keras 3 rms_scaling (deprecated): x * rsqrt(var + eps) * gamma.
                        y = value * r;
                        y = y * gamma[s];
                    } else if (fused) {
                        // fused_batch_norm((x - mean) * rsqrt(var + eps)), then * gamma, + beta.
                        y = (value - mean) * r;
                        if (gamma) y = y * gamma[s];
                        if (beta) y = y + beta[s];
                    } else {
                        // inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv).
                        const float inv = gamma ? r * gamma[s] : r;
                        const float mean_inv = mean * inv;
                        const float shift = beta ? beta[s] - mean_inv : -mean_inv;
                        const float scaled = value * inv;
                        y = scaled + shift;
                    }
                    out[s * v.inner] = y;
                }
            }
    }

private:
    std::vector<int64_t> axis_;
    double epsilon_ = 1e-3;
    bool rms_scaling_ = false;
    bool fused_capable_ = false;
    size_t gamma_ = kNone, beta_ = kNone;
};

// ---------------------------------------------------------------------------------------------

// A constant from the config: a number, a nested list, or Keras 3's {"class_name": "__numpy__",
// "config": {"value": ...}}; values as float32, shape as written.
struct Literal {
    Shape shape;
    std::vector<float> values;
};

Literal read_literal(const Json & value, const std::string & what, const std::string & context) {
    const Json & v = value.is_object() && value.contains("config") && value["config"].is_object() &&
                             value["config"].contains("value")
                         ? value["config"]["value"]
                         : value;
    Literal lit;
    const Json * level = &v;
    while (level->is_array() && !level->empty()) {
        lit.shape.push_back(static_cast<int64_t>(level->size()));
        level = &(*level)[0];
    }
    std::function<void(const Json &, size_t)> flatten = [&](const Json & e, size_t depth) {
        if (depth == lit.shape.size()) {
            KRUN_CHECK(e.is_number(), context, ": ", what, " should be a number or an array of numbers, found ",
                       value.dump());
            lit.values.push_back(static_cast<float>(e.get<double>()));
            return;
        }
        KRUN_CHECK(e.is_array() && static_cast<int64_t>(e.size()) == lit.shape[depth], context, ": ", what,
                   " is not a rectangular array: ", value.dump());
        for (const Json & x : e) flatten(x, depth + 1);
    };
    flatten(v, 0);
    return lit;
}

// The values of `lit` broadcast (numpy rules, aligned on the right) to `dims`; throws when they
// do not broadcast.
std::vector<float> broadcast_literal(const Literal & lit, const Shape & dims, const std::string & what,
                                     const std::string & context) {
    const size_t rank = dims.size();
    KRUN_CHECK(lit.shape.size() <= rank || product(lit.shape) == 1, context, ": ", what, " has shape ",
               shape_string(lit.shape), ", which does not broadcast to ", shape_string(dims));
    Shape src(rank, 1);  // lit.shape aligned on the right
    if (lit.shape.size() <= rank) std::copy(lit.shape.begin(), lit.shape.end(), src.end() - lit.shape.size());
    for (size_t d = 0; d < rank; ++d)
        KRUN_CHECK(src[d] == 1 || src[d] == dims[d], context, ": ", what, " has shape ", shape_string(lit.shape),
                   ", which does not broadcast to ", shape_string(dims));
    std::vector<float> out(product(dims));
    for (int64_t flat = 0; flat < static_cast<int64_t>(out.size()); ++flat) {
        int64_t rest = flat, index = 0, stride = 1;
        for (size_t d = rank; d-- > 0;) {
            const int64_t coord = rest % dims[d];
            rest /= dims[d];
            if (src[d] != 1) index += coord * stride;
            stride *= src[d];
        }
        out[flat] = lit.values[index];
    }
    return out;
}

// ---------------------------------------------------------------------------------------------

// Keras casts integer inputs (images) to float32 first: returns x's values as float32, converted
// into `y` when x is int32 (the layer then works in place on y).
const float * float_input(const Tensor & x, Tensor & y) {
    if (x.dtype() == DType::Float32) return x.data();
    for (int64_t i = 0; i < x.size(); ++i) y.data()[i] = static_cast<float>(x.data_i32()[i]);
    return y.data();
}

class Rescaling : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    bool writes_every_output() const override { return true; }  // the multiply writes all of y
    explicit Rescaling(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        KRUN_CHECK(cfg.has("scale"), context(), ": config has no 'scale'");
        scale_ = read_literal(cfg.json()["scale"], "scale", context());
        offset_ = cfg.has("offset") ? read_literal(cfg.json()["offset"], "offset", context()) : Literal{{}, {0.f}};
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        const Shape & shape = inputs[0].shape;
        KRUN_CHECK(!shape.empty(), context(), ": the input must have at least one dimension");
        for (const Literal * lit : {&scale_, &offset_}) per_channel(*lit, shape.back());
        return {{shape, DType::Float32}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        Tensor & y = outputs[0];
        const float * in = float_input(x, y);
        const int64_t channels = x.shape().back();
        // infer() checked the literals: one value, or one per channel.
        if (scale_.values.size() == 1 && offset_.values.size() == 1) {  // one pass over the data
            kernels.unary({Unary::ScaleShift, scale_.values[0], offset_.values[0]}, in, y.data(), x.size());
            return;
        }
        const AxisView v{x.size() / std::max<int64_t>(channels, 1), channels, 1};
        auto apply = [&](Binary op, const float * from, const Literal & lit) {
            if (lit.values.size() == 1) kernels.binary(op, from, 1, lit.values.data(), 0, y.data(), x.size());
            else binary_along(kernels, op, from, lit.values.data(), y.data(), v);
        };
        apply(Binary::Multiply, in, scale_);
        apply(Binary::Add, y.data(), offset_);
    }

    bool as_channel_affine(int64_t, std::vector<double> & scale, std::vector<double> & shift) const override {
        scale.assign(scale_.values.begin(), scale_.values.end());
        shift.assign(offset_.values.begin(), offset_.values.end());
        return true;
    }

private:
    // The literal as one value per channel of the last axis (`channels` -1: only check the shape).
    std::vector<float> per_channel(const Literal & lit, int64_t channels) const {
        Shape lead(lit.shape.begin(), lit.shape.end() - (lit.shape.empty() ? 0 : 1));
        const int64_t last = lit.shape.empty() ? 1 : lit.shape.back();
        KRUN_CHECK(product(lead) == 1 && (last == 1 || channels < 0 || last == channels), context(),
                   ": scale and offset must be scalars or have one value per channel of the last axis (",
                   channels, "), found shape ", shape_string(lit.shape));
        if (channels < 0) return {};
        return last == 1 ? std::vector<float>(channels, lit.values[0]) : lit.values;
    }

    Literal scale_, offset_;
};

// ---------------------------------------------------------------------------------------------

class Normalization : public Layer {
public:
    explicit Normalization(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        if (cfg.has("axis")) axis_ = cfg.integers("axis", 0);
        invert_ = cfg.boolean("invert", false);
        const bool has_mean = cfg.has("mean"), has_variance = cfg.has("variance");
        KRUN_CHECK(has_mean == has_variance, context(), ": config sets only one of 'mean' and 'variance'");
        if (has_mean) {
            mean_literal_ = read_literal(cfg.json()["mean"], "mean", context());
            variance_literal_ = read_literal(cfg.json()["variance"], "variance", context());
        } else {
            mean_ = declare_weight("mean");
            variance_ = declare_weight("variance");
            declare_weight("count");
        }
    }

    // `count` (adapt() bookkeeping) is not needed, and converters may drop the int64 scalar.
    void prepare() override {
        if (mean_ == kNone) return;
        for (size_t slot : {mean_, variance_})
            KRUN_CHECK(weight_slots()[slot].bound(), context(), ": weight '", weight_slots()[slot].name,
                       "' was not found in the weightsManifest");
        mean_literal_ = {weight(mean_).shape(), std::vector<float>(weight(mean_).data(), weight(mean_).data() + weight(mean_).size())};
        variance_literal_ = {weight(variance_).shape(),
                             std::vector<float>(weight(variance_).data(), weight(variance_).data() + weight(variance_).size())};
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        const Shape & shape = inputs[0].shape;
        const std::vector<int64_t> axes = resolve_axes(axis_, static_cast<int64_t>(shape.size()), context());
        const Shape dims = axis_dims(shape, axes, context());
        if (mean_ != kNone) {
            check_param(*this, weight_slots()[mean_], dims);
            check_param(*this, weight_slots()[variance_], dims);
        }
        broadcast_literal(mean_literal_, dims, "mean", context());
        broadcast_literal(variance_literal_, dims, "variance", context());
        return {{shape, DType::Float32}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        Tensor & y = outputs[0];
        const float * in = float_input(x, y);
        const std::vector<int64_t> axes = resolve_axes(axis_, x.rank(), context());
        Shape dims;
        for (int64_t a : axes) dims.push_back(x.shape()[a]);
        const std::vector<float> mean = broadcast_literal(mean_literal_, dims, "mean", context());
        std::vector<float> stddev = broadcast_literal(variance_literal_, dims, "variance", context());
        // max(sqrt(variance), backend.epsilon() = 1e-7)
        for (float & s : stddev) s = std::max(std::sqrt(s), 1e-7f);
        const AxisView v = axis_view(x.shape(), axes);
        if (invert_) {
            // mean + x * stddev
            binary_along(kernels, Binary::Multiply, in, stddev.data(), y.data(), v);
            binary_along(kernels, Binary::Add, y.data(), mean.data(), y.data(), v);
        } else {
            // (x - mean) / stddev
            binary_along(kernels, Binary::Subtract, in, mean.data(), y.data(), v);
            binary_along(kernels, Binary::Divide, y.data(), stddev.data(), y.data(), v);
        }
    }

private:
    std::vector<int64_t> axis_;  // kept axes; empty: one mean and variance for everything
    bool invert_ = false;
    size_t mean_ = kNone, variance_ = kNone;
    Literal mean_literal_, variance_literal_;
};

}  // namespace

std::unique_ptr<Layer> make_batch_normalization(const LayerDesc & desc) {
    return std::make_unique<BatchNormalization>(desc);
}
std::unique_ptr<Layer> make_layer_normalization(const LayerDesc & desc) {
    return std::make_unique<LayerNormalization>(desc);
}
std::unique_ptr<Layer> make_rescaling(const LayerDesc & desc) { return std::make_unique<Rescaling>(desc); }
std::unique_ptr<Layer> make_normalization(const LayerDesc & desc) { return std::make_unique<Normalization>(desc); }

}  // namespace krun
