#include "fusable.h"

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
    std::vector<float> bias(static_cast<size_t>(c));
    for (int64_t o = 0; o < c; ++o) {
        const double b = bias_slot_ != kNone ? weight(bias_slot_).data()[o] : 0.0;
        bias[o] = static_cast<float>(b * scale[o] + shift[o]);
    }
    if (bias_slot_ != kNone) mutable_weight(bias_slot_) = Tensor({c}, bias);
    else folded_bias_ = std::move(bias);
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
        packed_ = Tensor::uninitialized({kernels.packed_b_size(k, channels_)});  // pack_b writes every float
        kernels.pack_b(kernel.data(), k, channels_, scale, packed_.data());
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
}

void FusableLayer::check_residual(const std::vector<Spec> & inputs, const Shape & output) const {
    if (!residual_) return;
    KRUN_CHECK(inputs.back().shape == output, context(), ": the fused Add operand has shape ",
               shape_string(inputs.back().shape), ", the output ", shape_string(output));
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
