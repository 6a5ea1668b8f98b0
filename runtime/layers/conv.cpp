// Keras Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1DTranspose/2DTranspose with
// data_format channels_last: kernel_size, strides, padding valid/same (causal for 1D forward convs),
// dilation_rate, groups, depth_multiplier, output_padding, use_bias, activation. 1D layers run as 2D
// with height 1. Kernels: conv2d, depthwise_conv2d, conv2d_transpose, gemm (separable pointwise).
#include <algorithm>
#include <array>

#include "fusable.h"
#include "layers/factories.h"

namespace krun {

namespace {

// One call seen as 2D (1D: height 1): input [batch, in_h, in_w, channels] -> [batch, out_h, out_w, *].
struct Geometry {
    int64_t batch = 0, in_h = 1, in_w = 0, channels = 0, out_h = 1, out_w = 0, pad_top = 0, pad_left = 0;
};

// What every convolution reads from its config: window, padding, bias, activation.
class ConvBase : public FusableLayer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    ConvBase(const LayerDesc & desc, bool transposed) : FusableLayer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        rank_ = desc.class_name.find("1D") != std::string::npos ? 1 : 2;
        const std::string format = cfg.string("data_format", "channels_last");
        KRUN_CHECK(format == "channels_last", context(), ": only data_format 'channels_last' is supported, got '",
                   format, "'");
        kernel_ = as_2d(cfg.integers("kernel_size", rank_));
        strides_ = as_2d(cfg.integers("strides", rank_, 1));
        dilation_ = as_2d(cfg.integers("dilation_rate", rank_, 1));
        for (int a = 0; a < 2; ++a)
            KRUN_CHECK(kernel_[a] > 0 && strides_[a] > 0 && dilation_[a] > 0, context(),
                       ": kernel_size, strides and dilation_rate must be positive, got ",
                       cfg.json().value("kernel_size", Json()).dump(), ", ", cfg.json().value("strides", Json()).dump(),
                       ", ", cfg.json().value("dilation_rate", Json()).dump());
        const std::string padding = cfg.string("padding", "valid");
        if (padding == "valid") padding_ = Padding::Valid;
        else if (padding == "same") padding_ = Padding::Same;
        else if (padding == "causal" && rank_ == 1 && !transposed) padding_ = Padding::Causal;
        else cfg.error(cat("padding '", padding, "' is not supported, expected 'valid' or 'same'",
                           rank_ == 1 && !transposed ? " or 'causal'" : ""));
        use_bias_ = cfg.boolean("use_bias", true);
        activation_ = parse_activation(desc, "activation");
    }

protected:
    // A kernel weight shape: the spatial window (rank_ dims) followed by `tail`.
    Shape kernel_shape(std::initializer_list<int64_t> tail) const {
        Shape shape = rank_ == 2 ? Shape{kernel_[0], kernel_[1]} : Shape{kernel_[1]};
        shape.insert(shape.end(), tail);
        return shape;
    }

    // Checks the single input (and a fused residual) and returns its channel count (which must be
    // known).
    int64_t input_channels(const std::vector<Spec> & inputs) const {
        check_input_count(inputs, 1 + fused_inputs());
        check_float_input(inputs, 0, rank_ + 2, rank_ + 2);
        const int64_t channels = inputs[0].shape.back();
        KRUN_CHECK(channels > 0, context(), ": the channel dimension must be known, input is ",
                   shape_string(inputs[0].shape));
        return channels;
    }

    // The input dims of `g` from an input shape.
    Geometry input_geometry(const Shape & in) const {
        Geometry g;
        g.batch = in[0];
        g.in_h = rank_ == 2 ? in[1] : 1;
        g.in_w = in[rank_];
        g.channels = in.back();
        return g;
    }

    // Geometry of a forward convolution (conv, depthwise, separable) on input shape `in`. A fused
    // zero padding enlarges the input the window sees; the kernels read the rows and columns
    // outside the input as zero.
    Geometry forward_geometry(const Shape & in) const {
        Geometry g = input_geometry(in);
        auto padded = [](int64_t length, int64_t before, int64_t after) { return length < 0 ? length : length + before + after; };
        const AxisWindow rows = axis_window(padded(g.in_h, fused_pad_[0], fused_pad_[1]), kernel_[0], strides_[0], dilation_[0], padding_);
        const AxisWindow cols = axis_window(padded(g.in_w, fused_pad_[2], fused_pad_[3]), kernel_[1], strides_[1], dilation_[1], padding_);
        g.out_h = rows.out;
        g.pad_top = rows.pad_before + fused_pad_[0];
        g.out_w = cols.out;
        g.pad_left = cols.pad_before + fused_pad_[2];
        return g;
    }

    // The output spec for geometry `g` and `channels` convolution outputs (before the activation,
    // which may change the channel count), checking that the window fits the input.
    std::vector<Spec> output_spec(const Shape & in, const Geometry & g, int64_t channels) const {
        KRUN_CHECK(g.out_h != 0 && g.out_w != 0, context(), ": input ", shape_string(in),
                   " is smaller than the kernel window (kernel_size ", kernel_[0], "x", kernel_[1], ", dilation_rate ",
                   dilation_[0], "x", dilation_[1], ", padding 'valid')");
        int64_t out_channels = channels;
        if (activation_.kind == Activation::Kind::Glu) {
            KRUN_CHECK(channels % 2 == 0, context(), ": activation glu needs an even number of channels, got ",
                       channels);
            out_channels = channels / 2;
        }
        if (rank_ == 1) return {{{g.batch, g.out_w, out_channels}}};
        return {{{g.batch, g.out_h, g.out_w, out_channels}}};
    }

    Conv2dArgs conv_args(const Geometry & g, int64_t out_channels) const {
        Conv2dArgs a;
        a.batch = g.batch;
        a.in_h = g.in_h;
        a.in_w = g.in_w;
        a.in_channels = g.channels;
        a.out_h = g.out_h;
        a.out_w = g.out_w;
        a.out_channels = out_channels;
        a.kernel_h = kernel_[0];
        a.kernel_w = kernel_[1];
        a.stride_h = strides_[0];
        a.stride_w = strides_[1];
        a.dilation_h = dilation_[0];
        a.dilation_w = dilation_[1];
        a.pad_top = g.pad_top;
        a.pad_left = g.pad_left;
        return a;
    }

    // Where the convolution writes: the output itself, or `scratch` when the activation changes the
    // channel count (glu).
    float * pre_activation(Tensor & output, Tensor & scratch) const {
        if (activation_.kind != Activation::Kind::Glu) return output.data();
        scratch = Tensor({output.size() * 2});
        return scratch.data();
    }

    // Applies the activation to `pre` (the buffer pre_activation returned), `channels` per pixel,
    // unless the kernel's epilogue applied it (`in_epilogue`).
    void activate(const float * pre, Tensor & output, int64_t channels, bool in_epilogue, const Kernels & kernels) const {
        if (activation_.is_linear() || (in_epilogue && activation_in_epilogue())) return;
        const int64_t n = activation_.kind == Activation::Kind::Glu ? output.size() * 2 : output.size();
        apply_activation(activation_, pre, output.data(), n, channels, kernels);
    }

    const float * bias_or_null(size_t slot) const { return slot != kNone ? weight(slot).data() : nullptr; }

    // A ZeroPadding2D before a 'valid' Conv2D/DepthwiseConv2D, taken over by the convolution.
    bool fuse_padding(int64_t top, int64_t bottom, int64_t left, int64_t right) override {
        if (rank_ != 2 || padding_ != Padding::Valid || fused_inputs() > 0) return false;
        fused_pad_ = {top, bottom, left, right};
        return true;
    }

    int64_t rank_ = 2;
    // Index 0: height (1D: the window of 1), index 1: width (1D: the steps axis).
    std::vector<int64_t> kernel_, strides_, dilation_;
    Padding padding_ = Padding::Valid;
    bool use_bias_ = true;
    std::array<int64_t, 4> fused_pad_ = {0, 0, 0, 0};  // top, bottom, left, right

private:
    // 1D values become [1, value] so that the steps axis is the width.
    std::vector<int64_t> as_2d(std::vector<int64_t> values) const {
        if (rank_ == 1) values.insert(values.begin(), 1);
        return values;
    }
};

class DepthwiseConv;

// Conv1D, Conv2D: kernel [*window, in / groups, filters], bias [filters].
class Conv : public ConvBase {
public:
    explicit Conv(const LayerDesc & desc) : ConvBase(desc, false) {
        const Config cfg = desc.cfg();
        filters_ = cfg.integer("filters");
        groups_ = cfg.integer("groups", 1);
        KRUN_CHECK(filters_ > 0 && groups_ > 0 && filters_ % groups_ == 0, context(),
                   ": filters must be a positive multiple of groups, got filters ", filters_, ", groups ", groups_);
        kernel_slot_ = declare_weight("kernel");
        if (use_bias_) bias_slot_ = declare_weight("bias");
        set_fusable(kernel_slot_, bias_slot_, 1, groups_ == 1);  // kernels pack groups-1 convolutions only
    }

    bool fuse_depthwise(Layer * next) override;

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override;
    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override;

private:
    std::vector<Spec> infer_own(const std::vector<Spec> & inputs) const {
        const int64_t channels = input_channels(inputs);
        KRUN_CHECK(channels % groups_ == 0, context(), ": input channels ", channels, " are not divisible by groups ",
                   groups_);
        check_weight(kernel_slot_, kernel_shape({channels / groups_, filters_}),
                     cat("input channels ", channels, ", groups ", groups_, ", filters ", filters_));
        if (bias_slot_ != kNone) check_weight(bias_slot_, {filters_}, cat("filters ", filters_));
        std::vector<Spec> out = output_spec(inputs[0].shape, forward_geometry(inputs[0].shape), filters_);
        check_residual(inputs, out[0].shape);
        return out;
    }

    int64_t filters_ = 0, groups_ = 1;
    size_t kernel_slot_ = kNone, bias_slot_ = kNone;
    const DepthwiseConv * depthwise_ = nullptr;  // computed with this layer (fuse_depthwise)
};

// DepthwiseConv1D/2D, and the depthwise half of SeparableConv1D/2D: kernel [*window, in, multiplier].
class DepthwiseBase : public ConvBase {
public:
    // `kernel_name`: the weight name of the depthwise kernel.
    DepthwiseBase(const LayerDesc & desc, const std::string & kernel_name) : ConvBase(desc, false) {
        depth_multiplier_ = desc.cfg().integer("depth_multiplier", 1);
        KRUN_CHECK(depth_multiplier_ > 0, context(), ": depth_multiplier must be positive, got ", depth_multiplier_);
        depthwise_slot_ = declare_weight(kernel_name);
    }

protected:
    // Checks the input and the depthwise kernel; returns the input geometry.
    Geometry check_depthwise(const std::vector<Spec> & inputs) const {
        const int64_t channels = input_channels(inputs);
        check_weight(depthwise_slot_, kernel_shape({channels, depth_multiplier_}),
                     cat("input channels ", channels, ", depth_multiplier ", depth_multiplier_));
        return forward_geometry(inputs[0].shape);
    }

    // Runs the depthwise convolution of `input` (geometry `g`) into `output`, adding `bias` if not
    // null, then `epilogue`.
    void depthwise(const Geometry & g, const float * input, const float * bias, const Epilogue & epilogue,
                   float * output, const Kernels & kernels) const {
        kernels.depthwise_conv2d(depthwise_args(g, input, bias, epilogue, output));
    }

    DepthwiseConv2dArgs depthwise_args(const Geometry & g, const float * input, const float * bias,
                                       const Epilogue & epilogue, float * output) const {
        DepthwiseConv2dArgs d;
        d.geometry = conv_args(g, g.channels * depth_multiplier_);
        d.geometry.input = input;
        d.geometry.kernel = weight(depthwise_slot_).data();
        d.geometry.bias = bias;
        d.geometry.output = output;
        d.geometry.epilogue = epilogue;
        d.depth_multiplier = depth_multiplier_;
        return d;
    }

    int64_t depth_multiplier_ = 1;
    size_t depthwise_slot_ = kNone;
};

// DepthwiseConv1D/2D: bias [in * depth_multiplier].
class DepthwiseConv : public DepthwiseBase {
public:
    // Keras 3 names the DepthwiseConv kernel "kernel"; tf_keras "depthwise_kernel".
    explicit DepthwiseConv(const LayerDesc & desc)
        : DepthwiseBase(desc, desc.keras == KerasVersion::Keras3 ? "kernel" : "depthwise_kernel") {
        if (use_bias_) bias_slot_ = declare_weight("bias");
        set_fusable(depthwise_slot_, bias_slot_, 2, false);
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        const Geometry g = check_depthwise(inputs);
        const int64_t out_channels = g.channels * depth_multiplier_;
        if (bias_slot_ != kNone) check_weight(bias_slot_, {out_channels}, cat("output channels ", out_channels));
        std::vector<Spec> out = output_spec(inputs[0].shape, g, out_channels);
        check_residual(inputs, out[0].shape);
        return out;
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Geometry g = forward_geometry(inputs[0]->shape());
        Tensor scratch;
        float * pre = pre_activation(outputs[0], scratch);
        depthwise(g, inputs[0]->data(), bias_data(), epilogue(inputs), pre, kernels);
        activate(pre, outputs[0], g.channels * depth_multiplier_, true, kernels);
    }

    // Whether a Conv2D before it may compute it (Conv::fuse_depthwise): everything in the kernel.
    bool fusable_after_expansion() const {
        return rank_ == 2 && depth_multiplier_ == 1 && kernel_[0] <= kMaxExpandDepthwiseRows &&
               (activation_.is_linear() || activation_in_epilogue());
    }
    // The depthwise half of a fused call: its input is the expansion of shape `expanded_from`
    // (the expansion's input) with `channels` channels (input pointer left null); `inputs` are the
    // call's inputs as this layer sees them (the first is not read).
    DepthwiseConv2dArgs fused_args(const Shape & expanded_from, int64_t channels, const std::vector<const Tensor *> & inputs,
                                   float * output) const {
        Geometry g = forward_geometry(expanded_from);  // a 1x1 stride-1 expansion keeps the pixels
        g.channels = channels;
        return depthwise_args(g, nullptr, bias_data(), epilogue(inputs), output);
    }

private:
    size_t bias_slot_ = kNone;
};

std::vector<Spec> Conv::infer(const std::vector<Spec> & inputs) const {
    if (!depthwise_) return infer_own(inputs);
    std::vector<Spec> next = infer_own({inputs[0]});
    next.insert(next.end(), inputs.begin() + 1, inputs.end());
    return depthwise_->infer(next);
}

void Conv::run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels & kernels) const {
    Conv2dArgs a = conv_args(forward_geometry(inputs[0]->shape()), filters_);
    a.groups = groups_;
    a.input = inputs[0]->data();
    a.kernel = kernel_data();
    a.packed = packed();
    a.pad_values = pad_values();
    a.bias = bias_data();
    a.epilogue = epilogue(inputs);  // no residual of its own when fused with a depthwise
    if (depthwise_) {
        kernels.expand_depthwise(a, depthwise_->fused_args(inputs[0]->shape(), filters_, inputs, outputs[0].data()));
        return;
    }
    Tensor scratch;
    a.output = pre_activation(outputs[0], scratch);
    kernels.conv2d(a);
    activate(a.output, outputs[0], filters_, true, kernels);
}

bool Conv::fuse_depthwise(Layer * next) {
    auto * depthwise = dynamic_cast<DepthwiseConv *>(next);
    const bool pointwise = rank_ == 2 && kernel_ == std::vector<int64_t>{1, 1} && strides_ == std::vector<int64_t>{1, 1} &&
                           fused_pad_ == std::array<int64_t, 4>{0, 0, 0, 0};
    if (!depthwise || !depthwise->fusable_after_expansion() || !pointwise || groups_ != 1 || fused_inputs() > 0 ||
        !(activation_.is_linear() || activation_in_epilogue()))
        return false;
    depthwise_ = depthwise;
    return true;
}

// SeparableConv1D/2D: depthwise (no bias), then pointwise [*1s, in * depth_multiplier, filters] as a
// gemm over pixels, plus bias [filters], then the activation.
class SeparableConv : public DepthwiseBase {
public:
    explicit SeparableConv(const LayerDesc & desc) : DepthwiseBase(desc, "depthwise_kernel") {
        filters_ = desc.cfg().integer("filters");
        KRUN_CHECK(filters_ > 0, context(), ": filters must be positive, got ", filters_);
        pointwise_slot_ = declare_weight("pointwise_kernel");
        if (use_bias_) bias_slot_ = declare_weight("bias");
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        const Geometry g = check_depthwise(inputs);
        const int64_t mid = g.channels * depth_multiplier_;
        Shape pointwise(rank_, 1);
        pointwise.push_back(mid);
        pointwise.push_back(filters_);
        check_weight(pointwise_slot_, pointwise, cat("depthwise outputs ", mid, ", filters ", filters_));
        if (bias_slot_ != kNone) check_weight(bias_slot_, {filters_}, cat("filters ", filters_));
        return output_spec(inputs[0].shape, g, filters_);
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Geometry g = forward_geometry(inputs[0]->shape());
        const int64_t pixels = g.batch * g.out_h * g.out_w;
        const int64_t mid = g.channels * depth_multiplier_;
        Tensor depthwise_out({pixels * mid});
        depthwise(g, inputs[0]->data(), nullptr, Epilogue(), depthwise_out.data(), kernels);
        Tensor scratch;
        GemmArgs p;
        p.m = pixels;
        p.n = filters_;
        p.k = mid;
        p.a = depthwise_out.data();
        p.lda = mid;
        p.b = weight(pointwise_slot_).data();
        p.ldb = filters_;
        p.bias = bias_or_null(bias_slot_);
        p.c = pre_activation(outputs[0], scratch);
        p.ldc = filters_;
        kernels.gemm(p);
        activate(p.c, outputs[0], filters_, false, kernels);
    }

private:
    int64_t filters_ = 0;
    size_t pointwise_slot_ = kNone, bias_slot_ = kNone;
};

// Conv1DTranspose, Conv2DTranspose: kernel [*window, filters, in], bias [filters]. Output length per
// axis as Keras (deconv_output_length; tf_keras and Keras 3 agree); the padding is the one of the
// forward convolution from that output back to the input (what tf.nn.conv_transpose computes).
class ConvTranspose : public ConvBase {
public:
    explicit ConvTranspose(const LayerDesc & desc) : ConvBase(desc, true) {
        const Config cfg = desc.cfg();
        filters_ = cfg.integer("filters");
        KRUN_CHECK(filters_ > 0, context(), ": filters must be positive, got ", filters_);
        KRUN_CHECK(cfg.integer("groups", 1) == 1, context(), ": groups other than 1 are not supported");
        if (cfg.has("output_padding")) {
            output_padding_ = cfg.integers("output_padding", rank_);
            if (rank_ == 1) output_padding_.insert(output_padding_.begin(), 0);
            for (int a = 0; a < 2; ++a)
                KRUN_CHECK(output_padding_[a] >= 0 && output_padding_[a] < strides_[a], context(),
                           ": output_padding must be in [0, strides), got ",
                           cfg.json().value("output_padding", Json()).dump());
        }
        kernel_slot_ = declare_weight("kernel");
        if (use_bias_) bias_slot_ = declare_weight("bias");
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        const int64_t channels = input_channels(inputs);
        check_weight(kernel_slot_, kernel_shape({filters_, channels}),
                     cat("filters ", filters_, ", input channels ", channels,
                         "; transposed kernels are [..., out, in]"));
        if (bias_slot_ != kNone) check_weight(bias_slot_, {filters_}, cat("filters ", filters_));
        const Geometry g = transpose_geometry(inputs[0].shape);
        // tf.nn.conv_transpose rejects an output the forward convolution would not map back onto the input
        // (e.g. padding 'same' with an even kernel and output_padding 0).
        for (int a = 0; a < 2; ++a) {
            const int64_t in = a == 0 ? g.in_h : g.in_w, out = a == 0 ? g.out_h : g.out_w;
            const int64_t back = axis_window(out, kernel_[a], strides_[a], dilation_[a], padding_).out;
            KRUN_CHECK(in < 0 || (out > 0 && back == in),
                       context(), ": output length ", out, " computed for input ", shape_string(inputs[0].shape),
                       " does not convolve back to input length ", in, " (check kernel_size, strides, output_padding)");
        }
        return output_spec(inputs[0].shape, g, filters_);
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        ConvTranspose2dArgs a = conv_args(transpose_geometry(inputs[0]->shape()), filters_);
        a.input = inputs[0]->data();
        a.kernel = weight(kernel_slot_).data();
        a.bias = bias_or_null(bias_slot_);
        Tensor scratch;
        a.output = pre_activation(outputs[0], scratch);
        kernels.conv2d_transpose(a);
        activate(a.output, outputs[0], filters_, false, kernels);
    }

private:
    // Keras deconv_output_length along axis `a` (0: height, 1: width); -1 when `in` is unknown.
    int64_t output_length(int64_t in, int a) const {
        if (in < 0) return -1;
        const int64_t span = (kernel_[a] - 1) * dilation_[a] + 1, stride = strides_[a];
        if (padding_ == Padding::Same)
            return output_padding_.empty() ? in * stride : (in - 1) * stride + span % 2 + output_padding_[a];
        return (in - 1) * stride + (output_padding_.empty() ? std::max(span, stride) : span + output_padding_[a]);
    }

    Geometry transpose_geometry(const Shape & in) const {
        Geometry g = input_geometry(in);
        g.out_h = rank_ == 2 ? output_length(g.in_h, 0) : 1;
        g.out_w = output_length(g.in_w, 1);
        g.pad_top = axis_window(g.out_h, kernel_[0], strides_[0], dilation_[0], padding_).pad_before;
        g.pad_left = axis_window(g.out_w, kernel_[1], strides_[1], dilation_[1], padding_).pad_before;
        return g;
    }

    int64_t filters_ = 0;
    std::vector<int64_t> output_padding_;  // empty: Keras None; else [height, width]
    size_t kernel_slot_ = kNone, bias_slot_ = kNone;
};

}  // namespace

std::unique_ptr<Layer> make_conv(const LayerDesc & desc) { return std::make_unique<Conv>(desc); }
std::unique_ptr<Layer> make_depthwise_conv(const LayerDesc & desc) { return std::make_unique<DepthwiseConv>(desc); }
std::unique_ptr<Layer> make_separable_conv(const LayerDesc & desc) { return std::make_unique<SeparableConv>(desc); }
std::unique_ptr<Layer> make_conv_transpose(const LayerDesc & desc) { return std::make_unique<ConvTranspose>(desc); }

}  // namespace krun
