// Keras merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum (pairwise in input order,
// NumPy broadcasting after Keras' rank alignment), Concatenate (axis), Dot (axes, normalize).
// Keras 3 operation nodes with these class names go to make_operation. Kernels: binary, gemm, unary.
// Keras masks: all but Dot pass on the inputs' masks (the graph combines them as Keras does).
#include <algorithm>

#include "broadcast.h"
#include "elements.h"
#include "layers/factories.h"

namespace krun {

namespace {

// Keras merge layers expand lower-rank inputs at axis 1 until all ranks match (base_merge.py).
Shape expanded_to_rank(Shape shape, size_t rank) {
    while (shape.size() < rank) shape.insert(shape.begin() + std::min<size_t>(1, shape.size()), 1);
    return shape;
}

class ElementwiseMerge : public Layer {
public:
    ElementwiseMerge(const LayerDesc & desc, Binary op, bool average)
        : Layer(desc.name, desc.class_name), op_(op), average_(average) {}
    int kept_mask_outputs() const override { return 1; }
    bool per_sample(const std::vector<Spec> &) const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        KRUN_CHECK(!inputs.empty(), context(), ": expects at least 1 input, got none");
        if (class_name() == "Subtract") check_input_count(inputs, 2);
        for (size_t i = 0; i < inputs.size(); ++i) check_float_input(inputs, i, 1, 8);
        const size_t rank = max_rank(inputs);
        Shape out = expanded_to_rank(inputs[0].shape, rank);
        for (size_t i = 1; i < inputs.size(); ++i)
            out = broadcast_shape(out, expanded_to_rank(inputs[i].shape, rank), context());
        return {{out}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        Tensor & y = outputs[0];
        const size_t rank = static_cast<size_t>(y.rank());
        auto input = [&](size_t i) { return inputs[i]->reshaped(expanded_to_rank(inputs[i]->shape(), rank)); };
        if (inputs.size() == 2 && inputs[0]->rank() == y.rank() && inputs[1]->rank() == y.rank()) {
            broadcast_binary(op_, *inputs[0], *inputs[1], y, kernels);  // the common case, without copies
        } else if (inputs.size() == 1) {
            std::copy(inputs[0]->data(), inputs[0]->data() + y.size(), y.data());
        } else {
            // acc = ((x0 op x1) op x2) ...; a partial result smaller than y (broadcast later) needs
            // its own buffer, otherwise it is accumulated in y.
            Tensor acc = input(0);
            for (size_t i = 1; i < inputs.size(); ++i) {
                const Tensor x = input(i);
                const Shape shape = broadcast_shape(acc.shape(), x.shape(), context());
                Tensor target = shape == y.shape() ? y : Tensor(shape);
                broadcast_binary(op_, acc, x, target, kernels);
                acc = target;
            }
        }
        if (average_) {
            const float count = static_cast<float>(inputs.size());
            kernels.binary(Binary::Divide, y.data(), 1, &count, 0, y.data(), y.size());
        }
    }

    bool writes_every_output() const override { return true; }

    // With two inputs (the graph checks the count); Average divides as well.
    bool as_binary(Binary & op) const override {
        op = op_;
        return !average_;
    }

private:
    static size_t max_rank(const std::vector<Spec> & inputs) {
        size_t rank = 0;
        for (const Spec & s : inputs) rank = std::max(rank, s.shape.size());
        return rank;
    }

    Binary op_;
    bool average_;
};

// Normalizes a possibly negative axis for `rank` (Python style), or throws.
int64_t resolve_axis(int64_t axis, int64_t rank, const std::string & context) {
    KRUN_CHECK(axis >= -rank && axis < rank, context, ": axis ", axis, " is out of range for rank ", rank);
    return axis < 0 ? axis + rank : axis;
}

class Concatenate : public Layer {
public:
    explicit Concatenate(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        axis_ = desc.cfg().integer("axis", -1);
    }
    int kept_mask_outputs() const override { return 1; }
    bool per_sample(const std::vector<Spec> & inputs) const override {
        return spares_batch_axis({axis_}, static_cast<int64_t>(inputs[0].shape.size()));
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        KRUN_CHECK(!inputs.empty(), context(), ": expects at least 1 input, got none");
        const Spec & first = inputs[0];
        const int64_t rank = static_cast<int64_t>(first.shape.size());
        KRUN_CHECK(rank >= 1, context(), ": inputs must have rank >= 1, input 0 is a scalar");
        const int64_t axis = resolve_axis(axis_, rank, context());
        Shape out = first.shape;
        for (size_t i = 1; i < inputs.size(); ++i) {
            const Spec & s = inputs[i];
            KRUN_CHECK(s.dtype == first.dtype, context(), ": input ", i, " is ", dtype_name(s.dtype), ", input 0 is ",
                       dtype_name(first.dtype));
            KRUN_CHECK(static_cast<int64_t>(s.shape.size()) == rank, context(), ": input ", i, " has shape ",
                       shape_string(s.shape), ", input 0 has shape ", shape_string(first.shape), " (ranks differ)");
            for (int64_t d = 0; d < rank; ++d) {
                if (d == axis) {
                    out[d] = out[d] < 0 || s.shape[d] < 0 ? -1 : out[d] + s.shape[d];
                    continue;
                }
                KRUN_CHECK(out[d] < 0 || s.shape[d] < 0 || out[d] == s.shape[d], context(), ": input ", i,
                           " has shape ", shape_string(s.shape), ", which does not match ", shape_string(first.shape),
                           " except on the concatenation axis ", axis);
                if (out[d] < 0) out[d] = s.shape[d];
            }
        }
        return {{out, first.dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        Tensor & y = outputs[0];
        const int64_t axis = axis_ < 0 ? axis_ + y.rank() : axis_;
        int64_t outer = 1;
        for (int64_t d = 0; d < axis; ++d) outer *= y.shape()[d];
        const int64_t row = outer ? y.size() / outer : 0;  // output elements per outer index
        uint32_t * out = raw_elements(y);
        int64_t offset = 0;  // of this input's block inside a row
        for (const Tensor * x : inputs) {
            const int64_t block = outer ? x->size() / outer : 0;
            const uint32_t * in = raw_elements(*x);
            for (int64_t o = 0; o < outer; ++o) std::copy(in + o * block, in + (o + 1) * block, out + o * row + offset);
            offset += block;
        }
    }

private:
    int64_t axis_ = -1;
};

// Keras Dot: batch_dot of two inputs of rank 2 or 3 over one axis each (not the batch axis),
// optionally L2-normalized along those axes first. Output: batch, then the free dimensions of
// input 0, then those of input 1 ([batch, 1] when none are left).
class Dot : public Layer {
public:
    explicit Dot(const LayerDesc & desc) : Layer(desc.name, desc.class_name), keras_(desc.keras) {
        const Config cfg = desc.cfg();
        const Json & axes = cfg.json().contains("axes") ? cfg.json()["axes"] : Json();
        if (axes.is_number_integer()) {
            axes_[0] = axes_[1] = axes.get<int64_t>();
        } else if (axes.is_array() && axes.size() == 2 && axes[0].is_number_integer() && axes[1].is_number_integer()) {
            axes_[0] = axes[0].get<int64_t>();
            axes_[1] = axes[1].get<int64_t>();
        } else {
            cfg.error(cat("axes should be an integer or a pair of integers, found ", axes.dump()));
        }
        normalize_ = cfg.boolean("normalize", false);
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 2);
        check_float_input(inputs, 0, 2, 3);
        check_float_input(inputs, 1, 2, 3);
        int64_t axis[2];
        for (int i = 0; i < 2; ++i) {
            const int64_t rank = static_cast<int64_t>(inputs[i].shape.size());
            axis[i] = resolve_axis(axes_[i], rank, context());
            KRUN_CHECK(axis[i] != 0, context(), ": axes ", axes_[0], ", ", axes_[1],
                       " contract the batch axis, which Dot does not support");
        }
        const Shape & a = inputs[0].shape;
        const Shape & b = inputs[1].shape;
        KRUN_CHECK(a[axis[0]] < 0 || b[axis[1]] < 0 || a[axis[0]] == b[axis[1]], context(), ": input shapes ",
                   shape_string(a), " and ", shape_string(b), " differ along the dot axes (", axis[0], ", ", axis[1], ")");
        KRUN_CHECK(a[0] < 0 || b[0] < 0 || a[0] == b[0], context(), ": inputs have different batch sizes: ",
                   shape_string(a), " and ", shape_string(b));
        Shape out{a[0] < 0 ? b[0] : a[0]};
        for (size_t d = 1; d < a.size(); ++d)
            if (static_cast<int64_t>(d) != axis[0]) out.push_back(a[d]);
        for (size_t d = 1; d < b.size(); ++d)
            if (static_cast<int64_t>(d) != axis[1]) out.push_back(b[d]);
        if (out.size() == 1) out.push_back(1);
        return {{out}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        // Per batch row: y[m x n] = A[m x k] . B[k x n], with A and B laid out contiguously.
        Matrix a = as_matrix(*inputs[0], axes_[0], false, kernels);
        Matrix b = as_matrix(*inputs[1], axes_[1], true, kernels);
        const int64_t batch = inputs[0]->shape()[0];
        for (int64_t i = 0; i < batch; ++i) {
            GemmArgs g;
            g.m = a.rows;
            g.n = b.cols;
            g.k = a.cols;
            g.a = a.data.data() + i * a.rows * a.cols;
            g.lda = a.cols;
            g.b = b.data.data() + i * b.rows * b.cols;
            g.ldb = b.cols;
            g.c = outputs[0].data() + i * a.rows * b.cols;
            g.ldc = b.cols;
            kernels.gemm(g);
        }
    }

private:
    struct Matrix {
        int64_t rows = 1, cols = 1;
        std::vector<float> data;  // batch x rows x cols
    };

    // Input x ([batch, len] or [batch, d1, d2]) as per-batch matrices with the dot axis as the
    // columns (`contract_rows` false) or as the rows (true); normalized along it when asked.
    Matrix as_matrix(const Tensor & x, int64_t axis_spec, bool contract_rows, const Kernels & kernels) const {
        const int64_t rank = x.rank();
        const int64_t axis = axis_spec < 0 ? axis_spec + rank : axis_spec;
        const int64_t batch = x.shape()[0];
        const int64_t len = x.shape()[axis];
        const int64_t free = x.size() / std::max<int64_t>(batch * len, 1);
        // Source layout per batch row: [len, free] when axis 1 of a rank-3 input, else [free, len].
        const bool axis_major = rank == 3 && axis == 1;
        std::vector<float> values(x.data(), x.data() + x.size());
        if (normalize_) l2_normalize(values, batch, axis_major ? len : free, axis_major ? free : len, axis_major, kernels);
        Matrix m;
        m.rows = contract_rows ? len : free;
        m.cols = contract_rows ? free : len;
        if (axis_major == contract_rows) {
            m.data = std::move(values);
            return m;
        }
        m.data.resize(values.size());
        const int64_t src_rows = axis_major ? len : free, src_cols = axis_major ? free : len;
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t r = 0; r < src_rows; ++r)
                for (int64_t c = 0; c < src_cols; ++c)
                    m.data[(n * src_cols + c) * src_rows + r] = values[(n * src_rows + r) * src_cols + c];
        return m;
    }

    // Scales every line along the dot axis of per-batch [rows x cols] data to unit L2 norm: along
    // columns of each row (axis_major false) or down each column (true). tf-keras:
    // x * rsqrt(max(sum(x^2), 1e-12)); Keras 3: x * min(rsqrt(sum(x^2)), 1 / 1e-7).
    void l2_normalize(std::vector<float> & v, int64_t batch, int64_t rows, int64_t cols, bool axis_major,
                      const Kernels & kernels) const {
        const int64_t lines = axis_major ? cols : rows, len = axis_major ? rows : cols;
        const int64_t step = axis_major ? cols : 1;
        const UnaryArgs rsqrt{Unary::Rsqrt};
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t l = 0; l < lines; ++l) {
                float * line = v.data() + n * rows * cols + (axis_major ? l : l * cols);
                float sum = 0.f;
                for (int64_t i = 0; i < len; ++i) sum += line[i * step] * line[i * step];
                float inv = keras_ == KerasVersion::Keras3 ? sum : std::max(sum, 1e-12f);
                kernels.unary(rsqrt, &inv, &inv, 1);
                if (keras_ == KerasVersion::Keras3) inv = std::min(inv, 1e7f);
                for (int64_t i = 0; i < len; ++i) line[i * step] *= inv;
            }
    }

    KerasVersion keras_;
    int64_t axes_[2] = {-1, -1};
    bool normalize_ = false;
};

}  // namespace

std::unique_ptr<Layer> make_merge(const LayerDesc & desc) {
    if (desc.is_operation) return make_operation(desc);
    const std::string & c = desc.class_name;
    if (c == "Add") return std::make_unique<ElementwiseMerge>(desc, Binary::Add, false);
    if (c == "Subtract") return std::make_unique<ElementwiseMerge>(desc, Binary::Subtract, false);
    if (c == "Multiply") return std::make_unique<ElementwiseMerge>(desc, Binary::Multiply, false);
    if (c == "Average") return std::make_unique<ElementwiseMerge>(desc, Binary::Add, true);
    if (c == "Maximum") return std::make_unique<ElementwiseMerge>(desc, Binary::Maximum, false);
    if (c == "Minimum") return std::make_unique<ElementwiseMerge>(desc, Binary::Minimum, false);
    fail(desc.context(), ": not a merge layer class (expected Add, Subtract, Multiply, Average, Maximum or Minimum)");
}

// Keras 3 `ops.concatenate` (an operation named "Concatenate" with config `axis`) means the same
// as the layer, so both are built here.
std::unique_ptr<Layer> make_concatenate(const LayerDesc & desc) { return std::make_unique<Concatenate>(desc); }

std::unique_ptr<Layer> make_dot(const LayerDesc & desc) {
    if (desc.is_operation) return make_operation(desc);
    return std::make_unique<Dot>(desc);
}

}  // namespace krun
