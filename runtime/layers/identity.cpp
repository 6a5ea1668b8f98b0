// Layers that are the identity at inference: Dropout, SpatialDropout1D/2D, GaussianNoise,
// GaussianDropout, AlphaDropout, ActivityRegularization, Masking (its mask is not computed: krun
// does not propagate masks). Values pass through unchanged, float32 or int32. No kernels.
#include <cstring>

#include "layers/factories.h"

namespace krun {

namespace {

class Identity : public Layer {
public:
    using Layer::Layer;

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

}  // namespace

std::unique_ptr<Layer> make_identity(const LayerDesc & desc) { return std::make_unique<Identity>(desc.name, desc.class_name); }

}  // namespace krun
