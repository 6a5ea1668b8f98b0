// Keras Reshape (target_shape, one -1 allowed), Flatten (data_format), Permute (dims, 1-based)
// and RepeatVector (n). Pure data movement on float32 or int32 values (plain loops, no kernels).
#include <cstring>

#include "elements.h"
#include "layers/factories.h"

namespace krun {

namespace {

int64_t product(const Shape & dims, size_t from = 0) {
    int64_t n = 1;
    for (size_t d = from; d < dims.size(); ++d) n *= dims[d];
    return n;
}

bool all_known(const Shape & dims, size_t from = 0) {
    for (size_t d = from; d < dims.size(); ++d)
        if (dims[d] < 0) return false;
    return true;
}

// out = transpose(in, perm): output axis d is input axis perm[d].
void transpose(const Tensor & in, const std::vector<int64_t> & perm, Tensor & out) {
    const Shape & dims = in.shape();
    const size_t rank = dims.size();
    std::vector<int64_t> in_strides(rank, 1);
    for (size_t d = rank - 1; d > 0; --d) in_strides[d - 1] = in_strides[d] * dims[d];
    std::vector<int64_t> out_dims(rank), strides(rank);  // input stride of each output axis
    for (size_t d = 0; d < rank; ++d) {
        out_dims[d] = dims[perm[d]];
        strides[d] = in_strides[perm[d]];
    }
    const uint32_t * src = raw_elements(in);
    uint32_t * dst = raw_elements(out);
    std::vector<int64_t> coord(rank, 0);
    int64_t offset = 0;
    for (int64_t i = 0; i < out.size(); ++i) {
        dst[i] = src[offset];
        for (size_t d = rank; d-- > 0;) {  // odometer over the output coordinates
            if (++coord[d] < out_dims[d]) {
                offset += strides[d];
                break;
            }
            offset -= strides[d] * (out_dims[d] - 1);
            coord[d] = 0;
        }
    }
}

void copy(const Tensor & in, Tensor & out) { std::memcpy(raw_elements(out), raw_elements(in), 4 * static_cast<size_t>(in.size())); }

void check_one_input(const Layer & layer, const std::vector<Spec> & inputs, size_t min_rank) {
    KRUN_CHECK(inputs.size() == 1, layer.context(), ": expects 1 input, got ", inputs.size());
    KRUN_CHECK(inputs[0].shape.size() >= min_rank, layer.context(), ": input has shape ", shape_string(inputs[0].shape),
               ", expected rank >= ", min_rank);
}

class Reshape : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }  // shapes exclude the batch
    explicit Reshape(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        target_ = desc.cfg().integers("target_shape", 0);
        int unknown = 0;
        for (int64_t d : target_) {
            KRUN_CHECK(d > 0 || d == -1, context(), ": target_shape ", shape_string(target_),
                       " may only hold positive sizes and one -1");
            unknown += d == -1;
        }
        KRUN_CHECK(unknown <= 1, context(), ": target_shape ", shape_string(target_), " has more than one -1");
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_one_input(*this, inputs, 1);
        const Shape & in = inputs[0].shape;
        Shape out{in[0]};
        out.insert(out.end(), target_.begin(), target_.end());
        if (!all_known(in, 1)) return {{out, inputs[0].dtype}};  // checked again at run time
        const int64_t count = product(in, 1);
        int64_t target_count = 1;  // product of the given sizes
        bool has_unknown = false;
        for (int64_t d : target_) {
            if (d == -1) has_unknown = true;
            else target_count *= d;
        }
        KRUN_CHECK(has_unknown ? count % target_count == 0 : count == target_count, context(), ": cannot reshape input ",
                   shape_string(in), " (", count, " values per sample) to target_shape ", shape_string(target_));
        for (size_t d = 1; d < out.size(); ++d)
            if (out[d] == -1) out[d] = count / target_count;
        return {{out, inputs[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        copy(*inputs[0], outputs[0]);
    }

private:
    Shape target_;
};

class Flatten : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }  // shapes exclude the batch
    explicit Flatten(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const std::string format = desc.cfg().string("data_format", "channels_last");
        KRUN_CHECK(format == "channels_last" || format == "channels_first", context(),
                   ": data_format must be channels_last or channels_first, got '", format, "'");
        channels_first_ = format == "channels_first";
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_one_input(*this, inputs, 1);
        const Shape & in = inputs[0].shape;
        return {{{in[0], all_known(in, 1) ? product(in, 1) : -1}, inputs[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        if (!channels_first_ || x.rank() <= 2) {
            copy(x, outputs[0]);
            return;
        }
        // Keras moves channels last first: transpose (0, 2, ..., rank-1, 1), then flattens.
        std::vector<int64_t> perm{0};
        for (int64_t d = 2; d < x.rank(); ++d) perm.push_back(d);
        perm.push_back(1);
        Shape permuted;
        for (int64_t p : perm) permuted.push_back(x.shape()[p]);
        Tensor view = outputs[0].reshaped(permuted);
        transpose(x, perm, view);
    }

private:
    bool channels_first_ = false;
};

class Permute : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }  // shapes exclude the batch
    explicit Permute(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        dims_ = desc.cfg().integers("dims", 0);
        std::vector<bool> seen(dims_.size() + 1, false);
        for (int64_t d : dims_) {
            KRUN_CHECK(d >= 1 && d <= static_cast<int64_t>(dims_.size()) && !seen[d], context(), ": dims ",
                       shape_string(dims_), " must be a permutation of 1..", dims_.size());
            seen[d] = true;
        }
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_one_input(*this, inputs, 1);
        const Shape & in = inputs[0].shape;
        KRUN_CHECK(in.size() == dims_.size() + 1, context(), ": dims ", shape_string(dims_), " permute ", dims_.size(),
                   " axes, but the input ", shape_string(in), " has ", in.size() - 1, " besides the batch");
        Shape out{in[0]};
        for (int64_t d : dims_) out.push_back(in[d]);
        return {{out, inputs[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        std::vector<int64_t> perm{0};
        perm.insert(perm.end(), dims_.begin(), dims_.end());
        transpose(*inputs[0], perm, outputs[0]);
    }

private:
    std::vector<int64_t> dims_;
};

class RepeatVector : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }  // shapes exclude the batch
    explicit RepeatVector(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        n_ = desc.cfg().integer("n");
        KRUN_CHECK(n_ > 0, context(), ": n must be positive, got ", n_);
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_one_input(*this, inputs, 2);
        const Shape & in = inputs[0].shape;
        KRUN_CHECK(in.size() == 2, context(), ": input must have rank 2 (batch, features), is ", shape_string(in));
        return {{{in[0], n_, in[1]}, inputs[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        const int64_t batch = x.shape()[0], features = x.shape()[1];
        const uint32_t * src = raw_elements(x);
        uint32_t * dst = raw_elements(outputs[0]);
        for (int64_t b = 0; b < batch; ++b)
            for (int64_t r = 0; r < n_; ++r)
                std::memcpy(dst + (b * n_ + r) * features, src + b * features, 4 * static_cast<size_t>(features));
    }

private:
    int64_t n_ = 1;
};

}  // namespace

std::unique_ptr<Layer> make_reshape(const LayerDesc & desc) { return std::make_unique<Reshape>(desc); }
std::unique_ptr<Layer> make_flatten(const LayerDesc & desc) { return std::make_unique<Flatten>(desc); }
std::unique_ptr<Layer> make_permute(const LayerDesc & desc) { return std::make_unique<Permute>(desc); }
std::unique_ptr<Layer> make_repeat_vector(const LayerDesc & desc) { return std::make_unique<RepeatVector>(desc); }

}  // namespace krun
