// Keras Dense: y = activation(x . kernel + bias) over the last axis of an input of rank >= 2.
// Kernels: gemm with the activation in its epilogue (glu, softmax, ...: after it).
#include "fusable.h"
#include "layers/factories.h"

namespace krun {

namespace {

class Dense : public FusableLayer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    explicit Dense(const LayerDesc & desc) : FusableLayer(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        units_ = cfg.integer("units");
        KRUN_CHECK(units_ > 0, context(), ": units must be positive, got ", units_);
        activation_ = parse_activation(desc, "activation");
        kernel_ = declare_weight("kernel");
        if (cfg.boolean("use_bias", true)) bias_ = declare_weight("bias");
        set_fusable(kernel_, bias_, 1, true);
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1 + fused_inputs());
        check_float_input(inputs, 0, 2, 8);
        const int64_t in = inputs[0].shape.back();
        KRUN_CHECK(in > 0, context(), ": the last input dimension must be known, input is ",
                   shape_string(inputs[0].shape));
        check_weight(kernel_, {in, units_}, cat("input features ", in, ", units ", units_));
        if (bias_ != kNone) check_weight(bias_, {units_}, cat("units ", units_));
        Shape out = inputs[0].shape;
        out.back() = activation_.kind == Activation::Kind::Glu ? units_ / 2 : units_;
        check_residual(inputs, out);
        return {{out}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        const int64_t in = x.shape().back();
        GemmArgs g;
        g.m = x.size() / in;
        g.n = units_;
        g.k = in;
        g.a = x.data();
        g.lda = in;
        g.b = kernel_data();
        g.ldb = units_;
        g.packed = packed();
        g.bias = bias_data();
        g.epilogue = epilogue(inputs);
        if (activation_.kind == Activation::Kind::Glu) {
            Tensor linear({g.m, units_});
            g.c = linear.data();
            g.ldc = units_;
            kernels.gemm(g);
            apply_activation(activation_, linear.data(), outputs[0].data(), linear.size(), units_, kernels);
            return;
        }
        g.c = outputs[0].data();
        g.ldc = units_;
        kernels.gemm(g);
        if (!activation_in_epilogue()) apply_activation(activation_, g.c, g.c, outputs[0].size(), units_, kernels);
    }

private:
    int64_t units_ = 0;
    size_t kernel_ = kNone, bias_ = kNone;
};

}  // namespace

std::unique_ptr<Layer> make_dense(const LayerDesc & desc) { return std::make_unique<Dense>(desc); }

}  // namespace krun
