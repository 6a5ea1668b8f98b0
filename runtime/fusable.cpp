#include "fusable.h"

#include <cmath>

namespace krun {

void FusableLayer::set_fusable(size_t kernel_slot, size_t bias_slot, int channel_axes, bool packable) {
    kernel_slot_ = kernel_slot;
    bias_slot_ = bias_slot;
    channel_axes_ = channel_axes;
    packable_ = packable;
}

void FusableLayer::prepare() {
    Layer::prepare();
    if (channel_axes_ == 0) return;
    const Shape & shape = weight_slots()[kernel_slot_].shape;
    KRUN_CHECK(static_cast<int64_t>(shape.size()) >= channel_axes_, context(), ": weight '",
               weight_slots()[kernel_slot_].source, "' has shape ", shape_string(shape), ", expected rank >= ",
               channel_axes_);
    channels_ = 1;
    for (size_t d = shape.size() - channel_axes_; d < shape.size(); ++d) channels_ *= shape[d];
}

bool FusableLayer::fold_channel_affine(const std::vector<double> & scale, const std::vector<double> & shift) {
    const int64_t c = channels_;
    if (!activation_.is_linear() || residual_ || fused_activation_.op != Unary::Linear ||
        static_cast<int64_t>(scale.size()) != c || static_cast<int64_t>(shift.size()) != c)
        return false;
    // The kernel is scaled when pack_weights() lays it out (no copy of it here).
    if (kernel_scale_.empty()) kernel_scale_ = scale;
    else
        for (int64_t o = 0; o < c; ++o) kernel_scale_[o] *= scale[o];
    // The bias so far: the layer's, or what an affine folded before left (a second one chains).
    const float * old_bias = bias_data();
    std::vector<float> bias(static_cast<size_t>(c));
    for (int64_t o = 0; o < c; ++o) bias[o] = static_cast<float>((old_bias ? old_bias[o] : 0.0) * scale[o] + shift[o]);
    set_bias(std::move(bias));
    return true;
}

bool FusableLayer::fold_input_affine(const std::vector<double> & scale, const std::vector<double> & shift) {
    const Tensor & kernel = weight(kernel_slot_);
    if (!packable_ || channel_axes_ != 1 || !input_scale_.empty() || kernel.rank() < 2) return false;
    const int64_t in_channels = kernel.shape()[kernel.rank() - 2], out_channels = channels_;
    auto fits = [&](const std::vector<double> & v) { return v.size() == 1 || static_cast<int64_t>(v.size()) == in_channels; };
    if (!fits(scale) || !fits(shift)) return false;
    auto at = [](const std::vector<double> & v, int64_t c) { return v[v.size() == 1 ? 0 : c]; };
    std::vector<float> pad(static_cast<size_t>(in_channels));
    for (int64_t c = 0; c < in_channels; ++c) {
        const double value = -at(shift, c) / at(scale, c);
        if (!std::isfinite(value)) return false;
        pad[c] = static_cast<float>(value);
    }
    // bias[o] += sum over the kernel's rows of kernel * shift (times an output scale folded before).
    std::vector<double> sums(static_cast<size_t>(out_channels), 0.0);
    for (int64_t row = 0; row < kernel.size() / out_channels; ++row)
        for (int64_t o = 0; o < out_channels; ++o) sums[o] += kernel.data()[row * out_channels + o] * at(shift, row % in_channels);
    const float * old_bias = bias_data();
    std::vector<float> bias(static_cast<size_t>(out_channels));
    for (int64_t o = 0; o < out_channels; ++o) {
        const double output_scale = kernel_scale_.empty() ? 1.0 : kernel_scale_[o];
        bias[o] = static_cast<float>((old_bias ? old_bias[o] : 0.0) + sums[o] * output_scale);
    }
    set_bias(std::move(bias));
    input_scale_.resize(static_cast<size_t>(in_channels));
    for (int64_t c = 0; c < in_channels; ++c) input_scale_[c] = at(scale, c);
    pad_values_ = std::move(pad);
    return true;
}

bool FusableLayer::fuse_activation(const UnaryArgs & op) {
    if (!activation_.is_linear() || residual_ || fused_activation_.op != Unary::Linear) return false;
    fused_activation_ = op;
    return true;
}

bool FusableLayer::fuse_residual() {
    if (!activation_in_epilogue() || residual_) return false;
    residual_ = true;
    return true;
}

void FusableLayer::pack_weights(const Kernels & kernels) {
    if (channels_ == 0) return;
    const Tensor & kernel = weight(kernel_slot_);
    const int64_t k = kernel.size() / channels_;
    const double * scale = kernel_scale_.empty() ? nullptr : kernel_scale_.data();
    if (packable_) {
        // A folded input scale multiplies the kernel's rows first (row i reads input channel i % in).
        std::vector<float> scaled_rows;
        if (!input_scale_.empty()) {
            const int64_t in_channels = static_cast<int64_t>(input_scale_.size());
            scaled_rows.resize(static_cast<size_t>(kernel.size()));
            for (int64_t i = 0; i < k; ++i)
                for (int64_t o = 0; o < channels_; ++o)
                    scaled_rows[i * channels_ + o] = static_cast<float>(kernel.data()[i * channels_ + o] * input_scale_[i % in_channels]);
        }
        packed_ = Tensor::uninitialized({kernels.packed_b_size(k, channels_)});  // pack_b writes every float
        kernels.pack_b(scaled_rows.empty() ? kernel.data() : scaled_rows.data(), k, channels_, scale, packed_.data());
        mutable_weight(kernel_slot_) = Tensor();  // held once: only the packed layout is read from now on
    } else if (scale) {
        // A new tensor: the bound one may share its storage with the manifest.
        Tensor scaled = Tensor::uninitialized(kernel.shape());
        for (int64_t i = 0; i < k; ++i)
            for (int64_t o = 0; o < channels_; ++o)
                scaled.data()[i * channels_ + o] = static_cast<float>(kernel.data()[i * channels_ + o] * scale[o]);
        mutable_weight(kernel_slot_) = scaled;
    }
    kernel_scale_.clear();
    input_scale_.clear();
}

void FusableLayer::check_residual(const std::vector<Spec> & inputs, const Shape & output) const {
    if (!residual_) return;
    KRUN_CHECK(inputs.back().shape == output, context(), ": the fused Add operand has shape ",
               shape_string(inputs.back().shape), ", the output ", shape_string(output));
}

void FusableLayer::set_bias(std::vector<float> bias) {
    const int64_t c = static_cast<int64_t>(bias.size());
    if (bias_slot_ != kNone) mutable_weight(bias_slot_) = Tensor({c}, bias);
    else folded_bias_ = std::move(bias);
}

const float * FusableLayer::bias_data() const {
    if (!folded_bias_.empty()) return folded_bias_.data();
    return bias_slot_ != kNone ? weight(bias_slot_).data() : nullptr;
}

Epilogue FusableLayer::epilogue(const std::vector<const Tensor *> & inputs) const {
    Epilogue e;
    if (activation_in_epilogue()) e.activation = activation_.is_linear() ? fused_activation_ : activation_.unary;
    if (residual_) e.residual = inputs.back()->data();
    return e;
}

}  // namespace krun
