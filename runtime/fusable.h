// The layers that load-time graph rewriting (runtime/fuse.cpp) fuses into: Dense, Conv1D/2D and
// DepthwiseConv1D/2D. Output channel o of such a layer is a weighted sum of its input plus
// bias[o], then its activation; the kernel weight's values for channel o are every
// (size / channels)-th value starting at o (its last axis, or the last two axes of a depthwise
// kernel [.., in, multiplier], flattened). The activation runs in the kernels' epilogue when it
// is element-wise, and so do the activation and the Add that fusion moves into the layer.
#pragma once

#include "activation.h"

namespace krun {

class FusableLayer : public Layer {
public:
    static constexpr size_t kNone = static_cast<size_t>(-1);
    using Layer::Layer;

    FusableLayer * fusable() override { return channels_ > 0 ? this : nullptr; }
    // Dense and convolutions: the kernels write every output (kernels.h).
    bool writes_every_output() const override { return true; }

    // Each returns false (and changes nothing) when the layer cannot take the operation over.
    // y = x * scale[o] + shift[o] after this layer (a BatchNormalization), folded into kernel and
    // bias in double precision; needs a linear activation and nothing fused yet.
    bool fold_channel_affine(const std::vector<double> & scale, const std::vector<double> & shift);
    // y = op(x) after this layer; needs a linear activation and no residual.
    bool fuse_activation(const UnaryArgs & op);
    // y = x + r after this layer (an Add): r becomes the call's last input, added in the epilogue.
    bool fuse_residual();
    // x * scale[c] + shift[c] before this layer, along its input channels c (a Rescaling), folded
    // into kernel and bias in double precision; the padding then reads -shift[c] / scale[c], the
    // input that maps to zero. Needs a packable kernel with one channel axis (Dense, Conv with
    // groups 1) and a non-zero scale; scale and shift have one value per input channel, or one.
    bool fold_input_affine(const std::vector<double> & scale, const std::vector<double> & shift);
    // A ZeroPadding2D before this layer, which then reads the unpadded input (convolutions with
    // padding 'valid').
    virtual bool fuse_padding(int64_t top, int64_t bottom, int64_t left, int64_t right) { return false; }
    // A DepthwiseConv2D reading only this layer's output (a MobileNet expansion and the depthwise
    // after it): both computed by Kernels::expand_depthwise, the intermediate never stored whole.
    // The call then takes the depthwise's other inputs (a fused residual) after its own and
    // returns the depthwise's output. Needs everything else fused already (fuse.cpp).
    virtual bool fuse_depthwise(Layer * depthwise) { return false; }

    void prepare() override;
    void pack_weights(const Kernels & kernels) override;

protected:
    // For constructors: the kernel and bias (kNone: no bias) slots; the output channels are the
    // last `channel_axes` axes of the kernel. `packable`: run() passes the kernel in the table's
    // packed layout (pack_b of the kernel read as [size / channels, channels]; gemm and groups-1
    // conv2d).
    void set_fusable(size_t kernel_slot, size_t bias_slot, int channel_axes, bool packable);

    // Whether the activation runs in the epilogue (element-wise) or after the kernel (softmax, glu).
    bool activation_in_epilogue() const { return activation_.kind == Activation::Kind::Elementwise; }
    // Inputs a call takes after its own: the fused residual.
    size_t fused_inputs() const { return residual_ ? 1 : 0; }
    // Throws unless the fused residual (the last input) has the output's shape.
    void check_residual(const std::vector<Spec> & inputs, const Shape & output) const;

    const float * kernel_data() const { return packed_.size() ? packed_.data() : weight(kernel_slot_).data(); }
    bool packed() const { return packed_.size() > 0; }
    const float * bias_data() const;
    // What taps in the padding read, per input channel (Conv2dArgs::pad_values), or null: zeros.
    const float * pad_values() const { return pad_values_.empty() ? nullptr : pad_values_.data(); }
    // The epilogue of a call with these inputs.
    Epilogue epilogue(const std::vector<const Tensor *> & inputs) const;

    Activation activation_;

private:
    // The bias after a fold: into the layer's bias weight, or kept here when it has none.
    void set_bias(std::vector<float> bias);

    size_t kernel_slot_ = kNone, bias_slot_ = kNone;
    int channel_axes_ = 0;  // 0: not fusable
    int64_t channels_ = 0;
    bool packable_ = false;
    bool residual_ = false;
    UnaryArgs fused_activation_;
    Tensor packed_;
    std::vector<float> folded_bias_;  // the bias once an affine is folded into a layer without one
    std::vector<double> kernel_scale_;  // per output channel, folded in; applied by pack_weights()
    std::vector<double> input_scale_;   // per input channel, folded in; applied by pack_weights()
    std::vector<float> pad_values_;
};

}  // namespace krun
