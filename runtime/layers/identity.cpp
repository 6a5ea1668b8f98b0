// Layers that are the identity at inference: Dropout, SpatialDropout1D/2D, GaussianNoise,
// GaussianDropout, AlphaDropout, ActivityRegularization (float32 or int32; they pass Keras masks
// on). Masking (mask_value): zeroes the time steps whose features all equal mask_value and
// produces the mask any(x != mask_value, axis=-1). Plain loops, no kernels.
#include <algorithm>
#include <cstring>

#include "layers/factories.h"

namespace krun {

namespace {

class Identity : public Layer {
public:
    using Layer::Layer;
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    int kept_mask_outputs() const override { return 1; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        return {inputs[0]};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        Tensor & y = outputs[0];
        if (x.dtype() == DType::Float32) std::memcpy(y.data(), x.data(), sizeof(float) * static_cast<size_t>(x.size()));
        else std::memcpy(y.data_i32(), x.data_i32(), sizeof(int32_t) * static_cast<size_t>(x.size()));
    }
};

// True where a row of `features` values is not all mask_value: the step counts.
bool row_counts(const float * row, int64_t features, float mask_value) {
    for (int64_t f = 0; f < features; ++f)
        if (row[f] != mask_value) return true;
    return false;
}

// The mask of Masking's output: any(x != mask_value, axis=-1) as Int32 0/1 (a hidden graph node).
class MaskingMask : public Layer {
public:
    MaskingMask(const std::string & name, float mask_value) : Layer(name + "/mask", "MaskingMask"), mask_value_(mask_value) {}
    bool per_sample(const std::vector<Spec> & inputs) const override { return inputs[0].shape.size() >= 2; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        Shape mask = inputs[0].shape;
        mask.pop_back();
        return {{mask, DType::Int32}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        const int64_t features = x.dim(-1);
        for (int64_t r = 0; r < outputs[0].size(); ++r)
            outputs[0].data_i32()[r] = row_counts(x.data() + r * features, features, mask_value_);
    }

private:
    float mask_value_;
};

class Masking : public Layer {
public:
    explicit Masking(const LayerDesc & desc)
        : Layer(desc.name, desc.class_name),
          mask_value_(static_cast<float>(desc.cfg().number("mask_value", 0.0))),
          keras3_(desc.keras == KerasVersion::Keras3),
          mask_(desc.name, mask_value_) {}

    Layer * mask_layer() override { return &mask_; }
    bool per_sample(const std::vector<Spec> & inputs) const override { return inputs[0].shape.size() >= 2; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, 1, 8);
        return {inputs[0]};
    }

    // Keras 2 multiplies by the mask (a masked row becomes mask_value * 0, so -0 for a negative
    // mask_value); Keras 3 selects 0.
    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        const int64_t features = x.dim(-1), rows = features ? x.size() / features : 0;
        const float masked = keras3_ ? 0.f : mask_value_ * 0.f;
        for (int64_t r = 0; r < rows; ++r) {
            const float * in = x.data() + r * features;
            float * out = outputs[0].data() + r * features;
            if (row_counts(in, features, mask_value_)) std::memcpy(out, in, sizeof(float) * static_cast<size_t>(features));
            else std::fill(out, out + features, masked);
        }
    }

private:
    float mask_value_;
    bool keras3_;
    MaskingMask mask_;
};

}  // namespace

std::unique_ptr<Layer> make_identity(const LayerDesc & desc) {
    if (desc.class_name == "Masking") return std::make_unique<Masking>(desc);
    return std::make_unique<Identity>(desc.name, desc.class_name);
}

}  // namespace krun
