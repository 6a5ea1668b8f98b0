// Non-layer ops inside functional graphs: tf-keras TFOpLambda (config `function`, parameters in
// the call kwargs) and Keras 3 operation nodes (keras.ops.*, parameters in the op config).
// Element-wise math (NumPy broadcasting, constants cast to float32), activations, softmax, cast,
// reshape/expand_dims/squeeze/transpose, reductions, clip, concat; comparisons, logical and/or,
// any/all, zeros_like/ones_like, whose bool results are int32 0/1 (Keras 3 mask graphs use
// them). Kernels: binary, unary, softmax; comparisons and reductions are plain loops.
#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "broadcast.h"
#include "elements.h"
#include "layers/factories.h"

namespace krun {

namespace {

int64_t resolve_axis(int64_t axis, int64_t rank, const std::string & context) {
    KRUN_CHECK(axis >= -rank && axis < rank, context, ": axis ", axis, " is out of range for rank ", rank);
    return axis < 0 ? axis + rank : axis;
}

int64_t element_count(const Shape & shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

// An op's parameters: tf-keras TFOpLambda passes them as call kwargs, Keras 3 operations keep
// them in their config; a constant positional argument after the tensor may also carry the main
// one. Every parameter read is recorded so unsupported ones can be rejected.
class OpParams {
public:
    explicit OpParams(const LayerDesc & desc) : context_(desc.context()) {
        if (desc.is_operation) config_ = desc.config;
        if (desc.first_call) {
            kwargs_ = &desc.first_call->kwargs;
            for (const Operand & op : desc.first_call->operands)
                if (!op.is_tensor) positional_.push_back(&op.constant);
        }
    }

    // The first of `keys` present in the kwargs or the op config, else the first positional
    // constant when `positional`, else null.
    const Json * find(std::initializer_list<const char *> keys, bool positional = false) {
        for (const char * key : keys) {
            if (!key) continue;
            used_.insert(key);
            if (kwargs_ && kwargs_->contains(key)) return &(*kwargs_)[key];
            if (config_ && config_->contains(key)) return &(*config_)[key];
        }
        if (positional && !positional_.empty()) {
            positional_used_ = true;
            return positional_[0];
        }
        return nullptr;
    }
    const Json * required(std::initializer_list<const char *> keys) {
        const Json * v = find(keys, true);
        KRUN_CHECK(v, context_, ": missing argument '", *keys.begin(), "'");
        return v;
    }
    double number(std::initializer_list<const char *> keys, double fallback) {
        const Json * v = find(keys);
        if (!v || v->is_null()) return fallback;
        KRUN_CHECK(v->is_number(), context_, ": argument '", *keys.begin(), "' should be a number, found ", v->dump());
        return v->get<double>();
    }
    bool boolean(std::initializer_list<const char *> keys, bool fallback) {
        const Json * v = find(keys);
        if (!v || v->is_null()) return fallback;
        KRUN_CHECK(v->is_boolean(), context_, ": argument '", *keys.begin(), "' should be true or false, found ", v->dump());
        return v->get<bool>();
    }
    // An integer or a list of integers; empty when absent or null.
    std::vector<int64_t> integers(std::initializer_list<const char *> keys, bool positional = false) {
        const Json * v = find(keys, positional);
        std::vector<int64_t> out;
        if (!v || v->is_null()) return out;
        const Json list = v->is_array() ? *v : Json::array({*v});
        for (const Json & e : list) {
            KRUN_CHECK(e.is_number_integer(), context_, ": argument '", *keys.begin(),
                       "' should be an integer or a list of integers, found ", v->dump());
            out.push_back(e.get<int64_t>());
        }
        return out;
    }

    // Binary ops take their constant operands as inputs.
    void use_positional() { positional_used_ = true; }

    // Rejects parameters nobody read, unless they are off (null or false): they could change
    // the result.
    void check_all_used() const {
        auto check = [&](const Json * object, const char * where) {
            if (!object || !object->is_object()) return;
            for (const auto & [key, value] : object->items()) {
                if (key == "name" || used_.count(key) || value.is_null() || value == false) continue;
                fail(context_, ": unsupported ", where, " '", key, "' = ", value.dump().substr(0, 100));
            }
        };
        check(kwargs_, "argument");
        check(config_, "config option");
        KRUN_CHECK(positional_used_ || positional_.empty(), context_, ": unsupported constant argument ",
                   positional_[0]->dump().substr(0, 100));
    }

private:
    std::string context_;
    const Json * config_ = nullptr;
    const Json * kwargs_ = nullptr;
    std::vector<const Json *> positional_;
    bool positional_used_ = false;
    std::set<std::string> used_;
};

// a (op) b with NumPy broadcasting; constant operands arrive as extra float32 inputs.
class BinaryOp : public Layer {
public:
    BinaryOp(const LayerDesc & desc, Binary op) : Layer(desc.name, desc.class_name), op_(op) {}
    bool accepts_constant_operands() const override { return true; }
    // Unless a constant operand has the full rank and more than one row: it would pair its rows
    // with the samples.
    bool per_sample(const std::vector<Spec> & inputs) const override {
        const size_t rank = std::max(inputs[0].shape.size(), inputs[1].shape.size());
        for (const Spec & in : inputs)
            if (in.shape.size() == rank && rank > 0 && in.shape[0] != 1) return false;
        return true;
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 2);
        check_float_input(inputs, 0, 0, 8);
        check_float_input(inputs, 1, 0, 8);
        return {{broadcast_shape(inputs[0].shape, inputs[1].shape, context())}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        broadcast_binary(op_, *inputs[0], *inputs[1], outputs[0], kernels);
    }

    bool as_binary(Binary & op) const override {
        op = op_;
        return true;
    }

private:
    Binary op_;
};

// Element i of a float32 or int32 tensor, as float32 (int32 values are exact up to 2^24).
float as_float(const Tensor & t, int64_t i) { return t.dtype() == DType::Int32 ? static_cast<float>(t.data_i32()[i]) : t.data()[i]; }

// Comparisons and logical ops with NumPy broadcasting; the result is int32 0/1 (Keras bool).
// Two int32 operands compare as integers, otherwise as float32 (Keras' result dtype).
class CompareOp : public Layer {
public:
    enum class Kind { Equal, NotEqual, Greater, GreaterEqual, Less, LessEqual, LogicalAnd, LogicalOr };
    CompareOp(const LayerDesc & desc, Kind kind) : Layer(desc.name, desc.class_name), kind_(kind) {}
    bool accepts_constant_operands() const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 2);
        return {{broadcast_shape(inputs[0].shape, inputs[1].shape, context()), DType::Int32}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & a = *inputs[0], & b = *inputs[1];
        Tensor & y = outputs[0];
        const bool ints = a.dtype() == DType::Int32 && b.dtype() == DType::Int32;
        // Element strides of a and b along each output axis (0 where they broadcast).
        const int64_t rank = y.rank();
        std::vector<int64_t> stride_a(rank, 0), stride_b(rank, 0), index(rank, 0);
        for (const Tensor * t : {&a, &b}) {
            std::vector<int64_t> & stride = t == &a ? stride_a : stride_b;
            for (int64_t d = t->rank() - 1, s = 1; d >= 0; --d) {
                const int64_t axis = d + rank - t->rank();
                if (t->shape()[d] != 1) stride[axis] = s;
                s *= t->shape()[d];
            }
        }
        int64_t ia = 0, ib = 0;
        for (int64_t i = 0; i < y.size(); ++i) {
            y.data_i32()[i] = ints ? compare(a.data_i32()[ia], b.data_i32()[ib]) : compare(as_float(a, ia), as_float(b, ib));
            for (int64_t d = rank - 1; d >= 0; --d) {
                ia += stride_a[d];
                ib += stride_b[d];
                if (++index[d] < y.shape()[d]) break;
                ia -= stride_a[d] * y.shape()[d];
                ib -= stride_b[d] * y.shape()[d];
                index[d] = 0;
            }
        }
    }

private:
    template <class T>
    int32_t compare(T x, T y) const {
        switch (kind_) {
        case Kind::Equal: return x == y;
        case Kind::NotEqual: return x != y;
        case Kind::Greater: return x > y;
        case Kind::GreaterEqual: return x >= y;
        case Kind::Less: return x < y;
        case Kind::LessEqual: return x <= y;
        case Kind::LogicalAnd: return x != 0 && y != 0;
        case Kind::LogicalOr: return x != 0 || y != 0;
        }
        return 0;
    }

    Kind kind_;
};

// zeros_like / ones_like: the input's shape filled with a value, in the input's dtype or the
// given one (bool is int32).
class FillOp : public Layer {
public:
    FillOp(const LayerDesc & desc, float value, std::optional<DType> dtype)
        : Layer(desc.name, desc.class_name), value_(value), dtype_(dtype) {}

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        return {{inputs[0].shape, dtype_.value_or(inputs[0].dtype)}};
    }

    void run(const std::vector<const Tensor *> &, std::vector<Tensor> & outputs, const Kernels &) const override {
        Tensor & y = outputs[0];
        if (y.dtype() == DType::Int32) std::fill(y.data_i32(), y.data_i32() + y.size(), static_cast<int32_t>(value_));
        else std::fill(y.data(), y.data() + y.size(), value_);
    }

private:
    float value_;
    std::optional<DType> dtype_;
};

class UnaryOp : public Layer {
public:
    UnaryOp(const LayerDesc & desc, UnaryArgs op) : Layer(desc.name, desc.class_name), op_(op) {}
    bool per_sample(const std::vector<Spec> &) const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 0, 8);
        return {inputs[0]};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        kernels.unary(op_, inputs[0]->data(), outputs[0].data(), outputs[0].size());
    }

    bool as_unary(UnaryArgs & op) const override {
        op = op_;
        return true;
    }

private:
    UnaryArgs op_;
};

// clip(x, lo, hi) = maximum(minimum(x, hi), lo), as tf.clip_by_value.
class ClipOp : public Layer {
public:
    ClipOp(const LayerDesc & desc, float lo, float hi) : Layer(desc.name, desc.class_name), lo_(lo), hi_(hi) {}
    bool per_sample(const std::vector<Spec> &) const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 0, 8);
        return {inputs[0]};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        float * y = outputs[0].data();
        kernels.binary(Binary::Minimum, inputs[0]->data(), 1, &hi_, 0, y, outputs[0].size());
        kernels.binary(Binary::Maximum, y, 1, &lo_, 0, y, outputs[0].size());
    }

private:
    float lo_, hi_;
};

class SoftmaxOp : public Layer {
public:
    SoftmaxOp(const LayerDesc & desc, int64_t axis, bool log)
        : Layer(desc.name, desc.class_name), axis_(axis), log_(log) {}

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 1, 8);
        resolve_axis(axis_, static_cast<int64_t>(inputs[0].shape.size()), context());
        return {inputs[0]};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const int64_t axis = axis_ < 0 ? axis_ + x.rank() : axis_;
        int64_t outer = 1, inner = 1;
        for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
        for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
        kernels.softmax(x.data(), outputs[0].data(), outer, x.shape()[axis], inner, log_);
    }

private:
    int64_t axis_;
    bool log_;
};

// tf.cast / ops.cast between float32 and int32. Float to int truncates toward zero, saturating
// at the int32 range (NaN gives 0); to bool (int32 0/1) is x != 0.
class CastOp : public Layer {
public:
    CastOp(const LayerDesc & desc, DType to, bool to_bool = false)
        : Layer(desc.name, desc.class_name), to_(to), to_bool_(to_bool) {}

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        return {{inputs[0].shape, to_}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        Tensor & y = outputs[0];
        if (to_bool_) {
            for (int64_t i = 0; i < x.size(); ++i) y.data_i32()[i] = as_float(x, i) != 0.f;
        } else if (x.dtype() == to_) {
            std::copy(raw_elements(x), raw_elements(x) + x.size(), raw_elements(y));
        } else if (to_ == DType::Float32) {
            for (int64_t i = 0; i < x.size(); ++i) y.data()[i] = static_cast<float>(x.data_i32()[i]);
        } else {
            for (int64_t i = 0; i < x.size(); ++i) {
                const float f = x.data()[i];
                y.data_i32()[i] = f != f ? 0
                                  : f <= -2147483648.f ? std::numeric_limits<int32_t>::min()
                                  : f >= 2147483648.f ? std::numeric_limits<int32_t>::max()
                                                      : static_cast<int32_t>(f);
            }
        }
    }

private:
    DType to_;
    bool to_bool_;
};

// Ops that only change the shape (reshape, expand_dims, squeeze, identity): a row-major copy.
class ReshapeOp : public Layer {
public:
    enum class Kind { Reshape, ExpandDims, Squeeze, Identity };
    ReshapeOp(const LayerDesc & desc, Kind kind, std::vector<int64_t> values)
        : Layer(desc.name, desc.class_name), kind_(kind), values_(std::move(values)) {}

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        const Shape & in = inputs[0].shape;
        const int64_t rank = static_cast<int64_t>(in.size());
        Shape out;
        switch (kind_) {
        case Kind::Identity: out = in; break;
        case Kind::Reshape: out = reshaped(in); break;
        case Kind::ExpandDims: {
            const int64_t out_rank = rank + static_cast<int64_t>(values_.size());
            std::vector<bool> added(out_rank, false);
            for (int64_t a : values_) {
                const int64_t axis = resolve_axis(a, out_rank, context());
                KRUN_CHECK(!added[axis], context(), ": axis ", a, " is repeated");
                added[axis] = true;
            }
            for (int64_t d = 0, next = 0; d < out_rank; ++d) out.push_back(added[d] ? 1 : in[next++]);
            break;
        }
        case Kind::Squeeze: {
            std::vector<bool> removed(rank, false);
            for (int64_t a : values_) {
                const int64_t axis = resolve_axis(a, rank, context());
                KRUN_CHECK(in[axis] == 1 || in[axis] < 0, context(), ": cannot squeeze axis ", a, " of shape ",
                           shape_string(in), " (size is not 1)");
                removed[axis] = true;
            }
            for (int64_t d = 0; d < rank; ++d)
                if (!(values_.empty() ? in[d] == 1 : removed[d])) out.push_back(in[d]);
            break;
        }
        }
        return {{out, inputs[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        std::copy(raw_elements(*inputs[0]), raw_elements(*inputs[0]) + inputs[0]->size(), raw_elements(outputs[0]));
    }

private:
    // The target shape (batch included, one -1 allowed) for input shape `in`.
    Shape reshaped(const Shape & in) const {
        const bool known = std::all_of(in.begin(), in.end(), [](int64_t d) { return d >= 0; });
        Shape out = values_;
        int64_t inferred = -1, product = 1;
        for (size_t i = 0; i < out.size(); ++i) {
            if (out[i] == -1) {
                KRUN_CHECK(inferred < 0, context(), ": target shape ", shape_string(values_), " has more than one -1");
                inferred = static_cast<int64_t>(i);
            } else {
                KRUN_CHECK(out[i] >= 0, context(), ": bad target shape ", shape_string(values_));
                product *= out[i];
            }
        }
        if (!known) return out;  // the -1 stays unknown until the input shape is
        const int64_t total = element_count(in);
        if (inferred >= 0) {
            KRUN_CHECK(product > 0 && total % product == 0, context(), ": cannot reshape ", shape_string(in), " to ",
                       shape_string(values_));
            out[inferred] = total / product;
        }
        KRUN_CHECK(element_count(out) == total, context(), ": cannot reshape ", shape_string(in), " (", total,
                   " elements) to ", shape_string(values_));
        return out;
    }

    Kind kind_;
    std::vector<int64_t> values_;  // target shape or axes
};

class TransposeOp : public Layer {
public:
    // Empty `perm`: reverse the axes.
    TransposeOp(const LayerDesc & desc, std::vector<int64_t> perm) : Layer(desc.name, desc.class_name), perm_(std::move(perm)) {}

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        const Shape & in = inputs[0].shape;
        const std::vector<int64_t> perm = permutation(static_cast<int64_t>(in.size()));
        Shape out;
        for (int64_t p : perm) out.push_back(in[p]);
        return {{out, inputs[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const int64_t rank = x.rank();
        const std::vector<int64_t> perm = permutation(rank);
        std::vector<int64_t> in_strides(rank, 1), stride(rank), index(rank, 0);
        for (int64_t d = rank - 1; d > 0; --d) in_strides[d - 1] = in_strides[d] * x.shape()[d];
        for (int64_t d = 0; d < rank; ++d) stride[d] = in_strides[perm[d]];  // input stride of output axis d
        const Shape & out_shape = outputs[0].shape();
        const uint32_t * in = raw_elements(x);
        uint32_t * out = raw_elements(outputs[0]);
        int64_t offset = 0;
        for (int64_t i = 0; i < outputs[0].size(); ++i) {
            out[i] = in[offset];
            for (int64_t d = rank - 1; d >= 0; --d) {
                offset += stride[d];
                if (++index[d] < out_shape[d]) break;
                offset -= stride[d] * out_shape[d];
                index[d] = 0;
            }
        }
    }

private:
    std::vector<int64_t> permutation(int64_t rank) const {
        std::vector<int64_t> perm = perm_;
        if (perm.empty())
            for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);
        KRUN_CHECK(static_cast<int64_t>(perm.size()) == rank, context(), ": permutation ", shape_string(perm),
                   " does not match the input rank ", rank);
        std::vector<bool> seen(rank, false);
        for (int64_t & p : perm) {
            p = resolve_axis(p, rank, context());
            KRUN_CHECK(!seen[p], context(), ": permutation ", shape_string(perm_), " repeats axis ", p);
            seen[p] = true;
        }
        return perm;
    }

    std::vector<int64_t> perm_;
};

// Sum / mean / max / min over some axes (all when none are given), in row-major order; any / all
// (x != 0) give int32 0/1 and also read int32 inputs.
class ReduceOp : public Layer {
public:
    enum class Kind { Sum, Mean, Max, Min, Any, All };
    ReduceOp(const LayerDesc & desc, Kind kind, std::vector<int64_t> axes, bool keepdims)
        : Layer(desc.name, desc.class_name), kind_(kind), axes_(std::move(axes)), keepdims_(keepdims) {}

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        if (!logical()) check_float_input(inputs, 0, 0, 8);
        const Shape & in = inputs[0].shape;
        const std::vector<bool> reduced = reduced_axes(static_cast<int64_t>(in.size()));
        Shape out;
        for (size_t d = 0; d < in.size(); ++d) {
            if (!reduced[d]) out.push_back(in[d]);
            else if (keepdims_) out.push_back(1);
        }
        return {{out, logical() ? DType::Int32 : DType::Float32}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        Tensor & y = outputs[0];
        const int64_t rank = x.rank();
        const std::vector<bool> reduced = reduced_axes(rank);
        // Output stride of each input axis (0 for reduced axes).
        std::vector<int64_t> stride(rank, 0), index(rank, 0);
        for (int64_t d = rank - 1, s = 1; d >= 0; --d)
            if (!reduced[d]) {
                stride[d] = s;
                s *= x.shape()[d];
            }
        const float init = kind_ == Kind::Max   ? -std::numeric_limits<float>::infinity()
                           : kind_ == Kind::Min ? std::numeric_limits<float>::infinity()
                           : kind_ == Kind::All ? 1.f
                                                : 0.f;
        std::vector<float> truth(logical() ? y.size() : 0);  // any / all accumulate here as 0 / 1
        float * out = logical() ? truth.data() : y.data();
        std::fill(out, out + y.size(), init);
        int64_t offset = 0;
        for (int64_t i = 0; i < x.size(); ++i) {
            const float v = as_float(x, i);
            float & acc = out[offset];
            switch (kind_) {
            case Kind::Sum:
            case Kind::Mean: acc += v; break;
            case Kind::Max: acc = v > acc || v != v ? v : acc; break;
            case Kind::Min: acc = v < acc || v != v ? v : acc; break;
            case Kind::Any: acc = acc != 0.f || v != 0.f; break;
            case Kind::All: acc = acc != 0.f && v != 0.f; break;
            }
            for (int64_t d = rank - 1; d >= 0; --d) {
                offset += stride[d];
                if (++index[d] < x.shape()[d]) break;
                offset -= stride[d] * x.shape()[d];
                index[d] = 0;
            }
        }
        if (kind_ == Kind::Mean) {
            const float count = static_cast<float>(y.size() ? x.size() / y.size() : 0);
            kernels.binary(Binary::Divide, out, 1, &count, 0, out, y.size());
        }
        for (size_t i = 0; i < truth.size(); ++i) y.data_i32()[i] = truth[i] != 0.f;
    }

private:
    bool logical() const { return kind_ == Kind::Any || kind_ == Kind::All; }

    std::vector<bool> reduced_axes(int64_t rank) const {
        std::vector<bool> reduced(rank, axes_.empty());
        for (int64_t a : axes_) reduced[resolve_axis(a, rank, context())] = true;
        return reduced;
    }

    Kind kind_;
    std::vector<int64_t> axes_;
    bool keepdims_;
};

// ---------------------------------------------------------------- name tables

// tf-keras TFOpLambda `function` symbols, as the Keras 3 operation class of the same meaning.
const std::map<std::string, std::string> kTfFunctions = {
    {"__operators__.add", "Add"}, {"math.add", "Add"}, {"math.subtract", "Subtract"},
    {"math.multiply", "Multiply"}, {"math.truediv", "TrueDivide"}, {"math.divide", "Divide"},
    {"math.maximum", "Maximum"}, {"math.minimum", "Minimum"}, {"math.pow", "Power"},
    {"math.squared_difference", "SquaredDifference"},
    {"nn.relu", "Relu"}, {"nn.relu6", "Relu6"}, {"math.sigmoid", "Sigmoid"}, {"nn.sigmoid", "Sigmoid"},
    {"math.tanh", "Tanh"}, {"nn.tanh", "Tanh"}, {"nn.elu", "Elu"}, {"nn.selu", "Selu"},
    {"math.softplus", "Softplus"}, {"nn.softplus", "Softplus"}, {"math.softsign", "Softsign"},
    {"nn.softsign", "Softsign"}, {"nn.silu", "Silu"}, {"nn.swish", "Silu"}, {"nn.gelu", "Gelu"},
    {"nn.leaky_relu", "LeakyRelu"}, {"math.log_sigmoid", "LogSigmoid"},
    {"math.exp", "Exp"}, {"math.log", "Log"}, {"math.sqrt", "Sqrt"}, {"math.rsqrt", "Rsqrt"},
    {"math.square", "Square"}, {"math.abs", "Abs"}, {"math.negative", "Negative"},
    {"math.reciprocal", "Reciprocal"},
    {"nn.softmax", "Softmax"}, {"math.softmax", "Softmax"}, {"nn.log_softmax", "LogSoftmax"},
    {"math.log_softmax", "LogSoftmax"},
    {"cast", "Cast"}, {"reshape", "Reshape"}, {"expand_dims", "ExpandDims"}, {"squeeze", "Squeeze"},
    {"compat.v1.squeeze", "Squeeze"}, {"transpose", "Transpose"}, {"compat.v1.transpose", "Transpose"},
    {"identity", "Identity"}, {"concat", "Concatenate"}, {"clip_by_value", "Clip"},
    {"math.reduce_sum", "Sum"}, {"math.reduce_mean", "Mean"}, {"math.reduce_max", "Max"},
    {"math.reduce_min", "Min"}, {"math.reduce_any", "Any"}, {"math.reduce_all", "All"},
    {"math.equal", "Equal"}, {"math.not_equal", "NotEqual"}, {"math.greater", "Greater"},
    {"math.greater_equal", "GreaterEqual"}, {"math.less", "Less"}, {"math.less_equal", "LessEqual"},
    {"math.logical_and", "LogicalAnd"}, {"math.logical_or", "LogicalOr"},
    {"zeros_like", "ZerosLike"}, {"ones_like", "OnesLike"},
};

const std::map<std::string, Binary> kBinaryOps = {
    {"Add", Binary::Add},         {"Subtract", Binary::Subtract}, {"Multiply", Binary::Multiply},
    {"Divide", Binary::Divide},   {"TrueDivide", Binary::Divide}, {"Maximum", Binary::Maximum},
    {"Minimum", Binary::Minimum}, {"Power", Binary::Power},       {"SquaredDifference", Binary::SquaredDifference},
};

// Element-wise ops; `param` names the argument that sets alpha (tf-keras name first), with its
// default from keras.ops / tf.nn.
struct UnaryEntry {
    Unary op;
    const char * param;      // tf.nn name (or the only name)
    const char * k3_param;   // keras.ops name when it differs
    float alpha;
};
const std::map<std::string, UnaryEntry> kUnaryOps = {
    {"Relu", {Unary::Relu, nullptr, nullptr, 0.f}},
    {"Relu6", {Unary::Relu6, nullptr, nullptr, 0.f}},
    {"Sigmoid", {Unary::Sigmoid, nullptr, nullptr, 0.f}},
    {"Tanh", {Unary::Tanh, nullptr, nullptr, 0.f}},
    {"HardSigmoid", {Unary::HardSigmoidKeras3, nullptr, nullptr, 0.f}},
    {"HardSilu", {Unary::HardSilu, nullptr, nullptr, 0.f}},
    {"Silu", {Unary::Swish, nullptr, nullptr, 0.f}},
    {"Elu", {Unary::Elu, "alpha", nullptr, 1.f}},
    {"Selu", {Unary::Selu, nullptr, nullptr, 0.f}},
    {"Softplus", {Unary::Softplus, nullptr, nullptr, 0.f}},
    {"Softsign", {Unary::Softsign, nullptr, nullptr, 0.f}},
    {"LeakyRelu", {Unary::LeakyRelu, "alpha", "negative_slope", 0.2f}},
    {"Celu", {Unary::Celu, "alpha", nullptr, 1.f}},
    {"HardTanh", {Unary::HardTanh, nullptr, nullptr, 0.f}},
    {"HardShrink", {Unary::HardShrink, "threshold", nullptr, 0.5f}},
    {"SoftShrink", {Unary::SoftShrink, "threshold", nullptr, 0.5f}},
    {"TanhShrink", {Unary::TanhShrink, nullptr, nullptr, 0.f}},
    {"SparsePlus", {Unary::SparsePlus, nullptr, nullptr, 0.f}},
    {"SparseSigmoid", {Unary::SparseSigmoid, nullptr, nullptr, 0.f}},
    {"Squareplus", {Unary::Squareplus, "b", nullptr, 4.f}},
    {"LogSigmoid", {Unary::LogSigmoid, nullptr, nullptr, 0.f}},
    {"Exp", {Unary::Exponential, nullptr, nullptr, 0.f}},
    {"Log", {Unary::Log, nullptr, nullptr, 0.f}},
    {"Sqrt", {Unary::Sqrt, nullptr, nullptr, 0.f}},
    {"Rsqrt", {Unary::Rsqrt, nullptr, nullptr, 0.f}},
    {"Square", {Unary::Square, nullptr, nullptr, 0.f}},
    {"Abs", {Unary::Abs, nullptr, nullptr, 0.f}},
    {"Absolute", {Unary::Abs, nullptr, nullptr, 0.f}},
    {"Negative", {Unary::Negative, nullptr, nullptr, 0.f}},
    {"Reciprocal", {Unary::Reciprocal, nullptr, nullptr, 0.f}},
};

const std::map<std::string, ReduceOp::Kind> kReduceOps = {
    {"Sum", ReduceOp::Kind::Sum}, {"Mean", ReduceOp::Kind::Mean},
    {"Max", ReduceOp::Kind::Max}, {"Min", ReduceOp::Kind::Min},
    {"Any", ReduceOp::Kind::Any}, {"All", ReduceOp::Kind::All},
};

const std::map<std::string, CompareOp::Kind> kCompareOps = {
    {"Equal", CompareOp::Kind::Equal}, {"NotEqual", CompareOp::Kind::NotEqual},
    {"Greater", CompareOp::Kind::Greater}, {"GreaterEqual", CompareOp::Kind::GreaterEqual},
    {"Less", CompareOp::Kind::Less}, {"LessEqual", CompareOp::Kind::LessEqual},
    {"LogicalAnd", CompareOp::Kind::LogicalAnd}, {"LogicalOr", CompareOp::Kind::LogicalOr},
};

// A dtype argument (null: keep the input's); bool tensors are int32 0/1.
std::optional<DType> dtype_argument(const Json * dtype, const std::string & context) {
    if (!dtype || dtype->is_null()) return std::nullopt;
    KRUN_CHECK(dtype->is_string() && (*dtype == "float32" || *dtype == "int32" || *dtype == "bool"), context,
               ": dtype ", dtype->dump(), " is not supported (float32, int32 and bool are)");
    return *dtype == "float32" ? DType::Float32 : DType::Int32;
}

// Builds the op `op` (a Keras 3 operation class name) from `desc`, reading its parameters from p.
std::unique_ptr<Layer> build_op(const LayerDesc & desc, const std::string & op, OpParams & p) {
    const bool tf = !desc.is_operation;
    if (auto it = kBinaryOps.find(op); it != kBinaryOps.end()) {
        p.use_positional();
        return std::make_unique<BinaryOp>(desc, it->second);
    }
    if (auto it = kUnaryOps.find(op); it != kUnaryOps.end()) {
        const UnaryEntry & e = it->second;
        const float alpha = static_cast<float>(p.number({e.param, e.k3_param}, e.alpha));
        return std::make_unique<UnaryOp>(desc, UnaryArgs{e.op, alpha});
    }
    if (op == "Gelu") {
        // tf.nn.gelu defaults to the exact form, keras.ops.gelu to the tanh approximation.
        const bool approximate = p.boolean({"approximate"}, !tf);
        return std::make_unique<UnaryOp>(desc, UnaryArgs{approximate ? Unary::GeluTanh : Unary::Gelu});
    }
    if (op == "Softmax" || op == "LogSoftmax") {
        const std::vector<int64_t> axis = p.integers({"axis"});
        KRUN_CHECK(axis.size() <= 1, desc.context(), ": softmax over several axes is not supported");
        return std::make_unique<SoftmaxOp>(desc, axis.empty() ? -1 : axis[0], op == "LogSoftmax");
    }
    if (op == "Clip") {
        const Json * lo = p.find({"clip_value_min", "x_min"});
        const Json * hi = p.find({"clip_value_max", "x_max"});
        KRUN_CHECK(lo && hi && lo->is_number() && hi->is_number(), desc.context(),
                   ": clip bounds must be constant numbers");
        return std::make_unique<ClipOp>(desc, static_cast<float>(lo->get<double>()), static_cast<float>(hi->get<double>()));
    }
    if (auto it = kCompareOps.find(op); it != kCompareOps.end()) {
        p.use_positional();
        return std::make_unique<CompareOp>(desc, it->second);
    }
    if (op == "ZerosLike" || op == "OnesLike")
        return std::make_unique<FillOp>(desc, op == "OnesLike" ? 1.f : 0.f, dtype_argument(p.find({"dtype"}), desc.context()));
    if (op == "Cast") {
        const Json * dtype = p.required({"dtype"});
        const std::optional<DType> to = dtype_argument(dtype, desc.context());
        KRUN_CHECK(to, desc.context(), ": cast needs a dtype");
        return std::make_unique<CastOp>(desc, *to, *dtype == "bool");
    }
    if (op == "Reshape") {
        p.required({"shape", "newshape"});
        return std::make_unique<ReshapeOp>(desc, ReshapeOp::Kind::Reshape, p.integers({"shape", "newshape"}, true));
    }
    if (op == "ExpandDims" || op == "Squeeze") {
        const std::vector<int64_t> axes = p.integers({"axis"}, true);
        KRUN_CHECK(op == "Squeeze" || !axes.empty(), desc.context(), ": missing argument 'axis'");
        return std::make_unique<ReshapeOp>(desc, op == "Squeeze" ? ReshapeOp::Kind::Squeeze : ReshapeOp::Kind::ExpandDims, axes);
    }
    if (op == "Identity") return std::make_unique<ReshapeOp>(desc, ReshapeOp::Kind::Identity, std::vector<int64_t>{});
    if (op == "Transpose") {
        p.boolean({"conjugate"}, false);  // no effect on real numbers
        return std::make_unique<TransposeOp>(desc, p.integers({"perm", "axes"}, true));
    }
    if (auto it = kReduceOps.find(op); it != kReduceOps.end())
        return std::make_unique<ReduceOp>(desc, it->second, p.integers({"axis"}, true), p.boolean({"keepdims"}, false));
    if (op == "Concatenate") {
        // Same meaning as the Concatenate layer: build it from a config holding the axis.
        const std::vector<int64_t> axis = p.integers({"axis"}, true);
        KRUN_CHECK(axis.size() <= 1, desc.context(), ": concat axis should be one integer");
        const Json config = {{"axis", axis.empty() ? -1 : axis[0]}};
        LayerDesc concat = desc;
        concat.config = &config;
        concat.is_operation = false;
        return make_concatenate(concat);
    }
    return nullptr;
}

std::string supported_names(bool tf) {
    std::string names;
    auto add = [&](const std::string & n) { names += (names.empty() ? "" : ", ") + n; };
    if (tf) {
        for (const auto & e : kTfFunctions) add(e.first);
        return names;
    }
    for (const auto & e : kBinaryOps) add(e.first);
    for (const auto & e : kUnaryOps) add(e.first);
    for (const auto & e : kCompareOps) add(e.first);
    for (const char * n : {"Gelu", "Softmax", "LogSoftmax", "Clip", "Cast", "Reshape", "ExpandDims", "Squeeze",
                           "Transpose", "Sum", "Mean", "Max", "Min", "Any", "All", "ZerosLike", "OnesLike",
                           "Concatenate"})
        add(n);
    return names;
}

std::unique_ptr<Layer> build_checked(const LayerDesc & desc, const std::string & op) {
    OpParams params(desc);
    std::unique_ptr<Layer> layer = build_op(desc, op, params);
    if (layer) params.check_all_used();
    return layer;
}

}  // namespace

std::unique_ptr<Layer> make_tf_op_lambda(const LayerDesc & desc) {
    const std::string function = desc.cfg().string("function");
    auto it = kTfFunctions.find(function);
    std::unique_ptr<Layer> layer = it == kTfFunctions.end() ? nullptr : build_checked(desc, it->second);
    KRUN_CHECK(layer, desc.context(), ": unsupported TF function 'tf.", function, "'. Supported: ",
               supported_names(true));
    return layer;
}

std::unique_ptr<Layer> make_operation(const LayerDesc & desc) {
    std::unique_ptr<Layer> layer = build_checked(desc, desc.class_name);
    KRUN_CHECK(layer, desc.context(), ": unsupported Keras operation '", desc.class_name, "'. Supported: ",
               supported_names(false));
    return layer;
}

}  // namespace krun
