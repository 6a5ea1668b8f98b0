// Keras MaxPooling1D/2D, AveragePooling1D/2D (pool_size, strides (null: pool_size), padding
// valid/same) and GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D (keepdims), channels_last only.
// 1D layers run as 2D with height 1; global pooling is one window over the whole input. Kernel: pool2d.
// GlobalAveragePooling1D with a Keras mask (the only one that takes it) averages the unmasked
// steps: sum(x * mask) / sum(mask), a plain loop.
#include "layers/factories.h"

namespace krun {

namespace {

// 1 for the *1D classes, 2 for the *2D ones.
int64_t spatial_rank(const LayerDesc & desc) { return desc.class_name.find("1D") != std::string::npos ? 1 : 2; }

bool is_max_pooling(const LayerDesc & desc) { return desc.class_name.find("Max") != std::string::npos; }

void check_channels_last(const LayerDesc & desc) {
    const std::string format = desc.cfg().string("data_format", "channels_last");
    KRUN_CHECK(format == "channels_last", desc.context(), ": only data_format 'channels_last' is supported, got '",
               format, "'");
}

// Fills the input dims of `a` from an input shape of rank spatial_rank + 2 (1D: height 1).
void set_input_dims(Pool2dArgs & a, const Shape & in, int64_t rank) {
    a.batch = in[0];
    a.in_h = rank == 2 ? in[1] : 1;
    a.in_w = in[rank];
    a.channels = in.back();
}

class Pooling : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    explicit Pooling(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        check_channels_last(desc);
        rank_ = spatial_rank(desc);
        is_max_ = is_max_pooling(desc);
        pool_ = cfg.integers("pool_size", rank_, 2);
        strides_ = cfg.has("strides") ? cfg.integers("strides", rank_) : pool_;
        for (size_t a = 0; a < pool_.size(); ++a)
            KRUN_CHECK(pool_[a] > 0 && strides_[a] > 0, context(), ": pool_size and strides must be positive, got ",
                       cfg.json().value("pool_size", Json()).dump(), ", ", cfg.json().value("strides", Json()).dump());
        // 1D: the height axis is a window of 1.
        if (rank_ == 1) {
            pool_.insert(pool_.begin(), 1);
            strides_.insert(strides_.begin(), 1);
        }
        const std::string padding = cfg.string("padding", "valid");
        if (padding == "same") padding_ = Padding::Same;
        else if (padding != "valid")
            cfg.error(cat("padding '", padding, "' is not supported, expected 'valid' or 'same'"));
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, rank_ + 2, rank_ + 2);
        const Pool2dArgs a = args(inputs[0].shape);
        KRUN_CHECK(a.out_h != 0 && a.out_w != 0, context(), ": input ", shape_string(inputs[0].shape),
                   " is smaller than pool_size with padding 'valid'");
        if (rank_ == 1) return {{{a.batch, a.out_w, a.channels}}};
        return {{{a.batch, a.out_h, a.out_w, a.channels}}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        Pool2dArgs a = args(inputs[0]->shape());
        a.input = inputs[0]->data();
        a.output = outputs[0].data();
        kernels.pool2d(a);
    }

    bool writes_every_output() const override { return true; }

private:
    Pool2dArgs args(const Shape & in) const {
        Pool2dArgs a;
        set_input_dims(a, in, rank_);
        const AxisWindow rows = axis_window(a.in_h, pool_[0], strides_[0], 1, padding_);
        const AxisWindow cols = axis_window(a.in_w, pool_[1], strides_[1], 1, padding_);
        a.out_h = rows.out;
        a.out_w = cols.out;
        a.pool_h = pool_[0];
        a.pool_w = pool_[1];
        a.stride_h = strides_[0];
        a.stride_w = strides_[1];
        a.pad_top = rows.pad_before;
        a.pad_left = cols.pad_before;
        a.is_max = is_max_;
        return a;
    }

    int64_t rank_ = 2;
    bool is_max_ = true;
    std::vector<int64_t> pool_, strides_;  // [height, width]
    Padding padding_ = Padding::Valid;
};

class GlobalPooling : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    explicit GlobalPooling(const LayerDesc & desc) : Layer(desc.name, desc.class_name) {
        check_channels_last(desc);
        rank_ = spatial_rank(desc);
        is_max_ = is_max_pooling(desc);
        keepdims_ = desc.cfg().boolean("keepdims", false);
        keras3_ = desc.keras == KerasVersion::Keras3;
    }

    bool accepts_mask() const override { return rank_ == 1 && !is_max_; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        const bool masked = accepts_mask() && inputs.size() == 2;
        check_input_count(inputs, masked ? 2 : 1);
        check_float_input(inputs, 0, rank_ + 2, rank_ + 2);
        const Shape & in = inputs[0].shape;
        for (int64_t axis = 1; axis <= rank_; ++axis)
            KRUN_CHECK(in[axis] != 0, context(), ": cannot pool an empty input ", shape_string(in));
        if (masked) {
            const Spec & m = inputs[1];
            bool ok = m.dtype == DType::Int32 && m.shape.size() == 2;
            for (size_t d = 0; ok && d < 2; ++d) ok = m.shape[d] < 0 || in[d] < 0 || m.shape[d] == in[d];
            KRUN_CHECK(ok, context(), ": the mask should be int32 [batch, steps] ", shape_string({in[0], in[1]}),
                       ", got ", dtype_name(m.dtype), " ", shape_string(m.shape));
        }
        if (!keepdims_) return {{{in[0], in.back()}}};
        Shape out(in.size(), 1);
        out.front() = in[0];
        out.back() = in.back();
        return {{out}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        if (inputs.size() == 2) return masked_average(*inputs[0], *inputs[1], outputs[0]);
        // One valid window covering the whole input: the average divides by its size.
        Pool2dArgs a;
        set_input_dims(a, inputs[0]->shape(), rank_);
        a.out_h = a.out_w = 1;
        a.pool_h = a.stride_h = a.in_h;
        a.pool_w = a.stride_w = a.in_w;
        a.is_max = is_max_;
        a.input = inputs[0]->data();
        a.output = outputs[0].data();
        kernels.pool2d(a);
    }

private:
    // Keras: sum over steps of x * mask (Keras 3: where(mask, x, 0)), divided by the count of
    // unmasked steps (0 / 0 = NaN when every step is masked, as in Keras).
    void masked_average(const Tensor & x, const Tensor & mask, Tensor & y) const {
        const int64_t batch = x.dim(0), steps = x.dim(1), channels = x.dim(2);
        for (int64_t b = 0; b < batch; ++b) {
            float count = 0.f;
            for (int64_t t = 0; t < steps; ++t) count += mask.data_i32()[b * steps + t] != 0 ? 1.f : 0.f;
            for (int64_t c = 0; c < channels; ++c) {
                float sum = 0.f;
                for (int64_t t = 0; t < steps; ++t) {
                    const float v = x.data()[(b * steps + t) * channels + c];
                    const bool keep = mask.data_i32()[b * steps + t] != 0;
                    sum += keras3_ ? (keep ? v : 0.f) : v * (keep ? 1.f : 0.f);
                }
                y.data()[b * channels + c] = sum / count;
            }
        }
    }

    int64_t rank_ = 2;
    bool is_max_ = true;
    bool keepdims_ = false;
    bool keras3_ = false;
};

}  // namespace

std::unique_ptr<Layer> make_pooling(const LayerDesc & desc) { return std::make_unique<Pooling>(desc); }
std::unique_ptr<Layer> make_global_pooling(const LayerDesc & desc) { return std::make_unique<GlobalPooling>(desc); }

}  // namespace krun
