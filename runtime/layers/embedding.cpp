// Keras Embedding: y[..., :] = embeddings[index] for int32 indices (float inputs truncated toward
// zero, as Keras' cast to int32). Config: input_dim, output_dim, mask_zero (produces the Keras
// mask index != 0, compared before truncation as Keras does). Plain row copies, no kernels.
#include <algorithm>
#include <cstring>
#include <limits>

#include "layers/factories.h"

namespace krun {

namespace {

// The mask_zero mask: x != 0 as Int32 0/1, same shape as the indices (a hidden graph node).
class NonZeroMask : public Layer {
public:
    explicit NonZeroMask(const std::string & name) : Layer(name + "/mask", "EmbeddingMask") {}
    bool per_sample(const std::vector<Spec> &) const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override { return {{inputs[0].shape, DType::Int32}}; }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        int32_t * m = outputs[0].data_i32();
        for (int64_t i = 0; i < x.size(); ++i) m[i] = x.dtype() == DType::Int32 ? x.data_i32()[i] != 0 : x.data()[i] != 0.f;
    }
};

class Embedding : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    explicit Embedding(const LayerDesc & desc) : Layer(desc.name, desc.class_name), mask_(desc.name) {
        const Config cfg = desc.cfg();
        mask_zero_ = cfg.boolean("mask_zero", false);
        input_dim_ = cfg.integer("input_dim");
        output_dim_ = cfg.integer("output_dim");
        KRUN_CHECK(input_dim_ > 0 && output_dim_ > 0, context(), ": input_dim and output_dim must be positive, got ",
                   input_dim_, " and ", output_dim_);
        KRUN_CHECK(!cfg.has("quantization_config") && !cfg.has("quantization_mode"), context(),
                   ": quantized embeddings are not supported");
        KRUN_CHECK(cfg.integer("lora_rank", 0) == 0, context(), ": LoRA embeddings (lora_rank) are not supported");
        embeddings_ = declare_weight("embeddings");
    }

    Layer * mask_layer() override { return mask_zero_ ? &mask_ : nullptr; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_weight(embeddings_, {input_dim_, output_dim_}, cat("input_dim ", input_dim_, ", output_dim ", output_dim_));
        Shape out = inputs[0].shape;
        out.push_back(output_dim_);
        return {{out, DType::Float32}};
    }

    // TF raises an error for an index outside [0, input_dim). run() cannot fail, so such a
    // position gets a row of NaN: the output is visibly invalid and nothing is read out of bounds.
    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        const Tensor & x = *inputs[0];
        const float * table = weight(embeddings_).data();
        float * y = outputs[0].data();
        const size_t row_bytes = sizeof(float) * static_cast<size_t>(output_dim_);
        for (int64_t i = 0; i < x.size(); ++i) {
            int64_t index = -1;
            if (x.dtype() == DType::Int32) {
                index = x.data_i32()[i];
            } else {
                const double f = x.data()[i];  // NaN fails both comparisons
                if (f > -1.0 && f < static_cast<double>(input_dim_)) index = static_cast<int64_t>(f);
            }
            float * row = y + i * output_dim_;
            if (index >= 0 && index < input_dim_) std::memcpy(row, table + index * output_dim_, row_bytes);
            else std::fill(row, row + output_dim_, std::numeric_limits<float>::quiet_NaN());
        }
    }

private:
    int64_t input_dim_ = 0, output_dim_ = 0;
    size_t embeddings_ = 0;
    bool mask_zero_ = false;
    NonZeroMask mask_;
};

}  // namespace

std::unique_ptr<Layer> make_embedding(const LayerDesc & desc) { return std::make_unique<Embedding>(desc); }

}  // namespace krun
