// Keras wrapper layers. Bidirectional: a forward and a backward recurrent layer (backward_layer
// config, else the forward config with go_backwards flipped), merge_mode concat/sum/mul/ave/null,
// return_sequences, return_state, a Keras mask (given to both layers, which Keras forces to
// zero_output_for_mask = return_sequences). TimeDistributed: any layer applied to every time
// slice; it passes a Keras mask on.
// The inner layers are built with make_layer and run through their own run(); kernels: binary.
#include <cstring>

#include "layers/factories.h"

namespace krun {

namespace {

// A layer made of inner layers built from its config. The inner layers' weights are declared as
// this layer's own (so the loader binds them under this layer's name) and handed over in prepare().
class Wrapper : public Layer {
public:
    using Layer::Layer;

    void prepare() override {
        for (const Exposed & e : exposed_) {
            const WeightSlot & own = weight_slots()[e.slot];
            WeightSlot & inner = e.layer->weight_slots()[e.inner_slot];
            inner.value = own.value;
            inner.source = own.source;
        }
        Layer::prepare();
        for (const auto & inner : inner_) inner->prepare();
    }

    // A weight an inner layer released once packed is released here too: held once.
    void pack_weights(const Kernels & kernels) override {
        for (const auto & inner : inner_) inner->pack_weights(kernels);
        for (const Exposed & e : exposed_)
            if (e.layer->weight_slots()[e.inner_slot].value.size() == 0) weight_slots()[e.slot].value = Tensor();
    }

protected:
    // Builds the inner layer of `entry` ({"class_name", "config"}), with `config` replacing its
    // config when given. Its weights get `.keras` paths below `keras_prefix` and, when `hint` is
    // not empty, that scope hint instead of their own.
    Layer & add_inner(const Json & entry, const LayerDesc & outer, const std::string & keras_prefix,
                      const std::string & hint, const Json * config = nullptr, const std::string & name = "") {
        const Config e(entry, outer.context());
        const std::string class_name = e.string("class_name");
        configs_.push_back(std::make_unique<Json>(config ? *config : e.child("config").json()));
        LayerDesc desc;
        desc.class_name = class_name;
        desc.config = configs_.back().get();
        desc.name = name.empty() ? Config(*desc.config, outer.context()).string("name", class_name) : name;
        desc.keras = outer.keras;
        inner_.push_back(make_layer(desc));
        Layer & inner = *inner_.back();
        for (size_t i = 0; i < inner.weight_slots().size(); ++i) {
            const WeightSlot & w = inner.weight_slots()[i];
            const size_t slot = declare_weight(w.name, keras_prefix + w.keras_path, hint.empty() ? w.scope_hint : hint);
            exposed_.push_back({&inner, i, slot});
        }
        return inner;
    }

    // Output specs of `inner` called on `inputs`, with errors naming this layer too.
    std::vector<Spec> infer_inner(const Layer & inner, const std::vector<Spec> & inputs) const {
        try {
            return inner.infer(inputs);
        } catch (const Error & e) {
            fail(context(), ": wrapped ", e.what());
        }
    }

    // Runs `inner` into freshly allocated outputs (shapes as infer() found them for these inputs).
    static std::vector<Tensor> run_inner(const Layer & inner, const std::vector<const Tensor *> & inputs,
                                         const Kernels & kernels) {
        std::vector<Spec> in_specs;
        for (const Tensor * t : inputs) in_specs.push_back({t->shape(), t->dtype()});
        std::vector<Tensor> outs;
        for (const Spec & s : inner.infer(in_specs)) outs.emplace_back(s.shape, s.dtype);
        inner.run(inputs, outs, kernels);
        return outs;
    }

private:
    struct Exposed {
        Layer * layer;
        size_t inner_slot;
        size_t slot;
    };
    std::vector<std::unique_ptr<Json>> configs_;
    std::vector<std::unique_ptr<Layer>> inner_;
    std::vector<Exposed> exposed_;
};

class Bidirectional : public Wrapper {
public:
    explicit Bidirectional(const LayerDesc & desc) : Wrapper(desc.name, desc.class_name) {
        const Config cfg = desc.cfg();
        const Json & forward_entry = cfg.child("layer").json();
        const Config forward_cfg(Config(forward_entry, context()).child("config").json(), context());
        return_sequences_ = forward_cfg.boolean("return_sequences", false);
        time_major_ = forward_cfg.boolean("time_major", false);
        const std::string mode = cfg.json().contains("merge_mode") && cfg.json()["merge_mode"].is_null()
                                     ? "null" : cfg.string("merge_mode", "concat");
        if (mode == "concat") merge_ = Merge::Concat;
        else if (mode == "sum") merge_ = Merge::Sum;
        else if (mode == "mul") merge_ = Merge::Mul;
        else if (mode == "ave") merge_ = Merge::Ave;
        else if (mode == "null") merge_ = Merge::None;
        else cfg.error(cat("unknown merge_mode '", mode, "' (expected concat, sum, mul, ave or null)"));

        if (desc.first_call)
            KRUN_CHECK(!desc.first_call->kwargs.contains("initial_state") || desc.first_call->kwargs["initial_state"].is_null(),
                       context(), ": the 'initial_state' call argument is not supported");

        Json forward = forward_cfg.json();
        forward["zero_output_for_mask"] = return_sequences_;
        forward_ = &add_inner(forward_entry, desc, "forward_layer/", "forward", &forward, "forward_" + name());
        if (cfg.has("backward_layer")) {
            // A given backward layer keeps its own name in Keras 3 and its weights are scoped by it;
            // tf-keras scopes them by backward_<name>.
            const Json & entry = cfg.child("backward_layer").json();
            Json backward = Config(entry, context()).child("config").json();
            const std::string backward_name = Config(backward, context()).string("name", "backward");
            const std::string hint = desc.keras == KerasVersion::Keras3 ? backward_name : "backward";
            backward["zero_output_for_mask"] = backward.value("return_sequences", false);
            backward_ = &add_inner(entry, desc, "backward_layer/", hint, &backward, "backward_" + name());
        } else {
            // tf-keras writes backward_layer only when it was given: the backward copy is the
            // forward config with go_backwards flipped.
            Json backward = forward;
            backward["go_backwards"] = !forward_cfg.boolean("go_backwards", false);
            backward_ = &add_inner(forward_entry, desc, "backward_layer/", "backward", &backward, "backward_" + name());
        }
    }

    bool accepts_mask() const override { return true; }
    int kept_mask_outputs() const override { return !return_sequences_ ? 0 : merge_ == Merge::None ? 2 : 1; }

    // Input 0 the sequence; input 1, if any, the mask (int32), which the inner layers check.
    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        const bool masked = inputs.size() == 2 && inputs[1].dtype == DType::Int32;
        KRUN_CHECK(inputs.size() == 1 || masked, context(),
                   ": expects the sequence and optionally a mask (initial states are not supported), got ",
                   inputs.size(), " inputs");
        const std::vector<Spec> f = infer_inner(*forward_, inputs), b = infer_inner(*backward_, inputs);
        const Shape & fy = f[0].shape, & by = b[0].shape;
        KRUN_CHECK(fy.size() == by.size(), context(), ": forward output ", shape_string(fy),
                   " and backward output ", shape_string(by), " have different ranks");
        std::vector<Spec> outputs;
        if (merge_ == Merge::None) {
            outputs = {f[0], b[0]};
        } else if (merge_ == Merge::Concat) {
            Shape y = fy;
            y.back() = fy.back() < 0 || by.back() < 0 ? -1 : fy.back() + by.back();
            outputs = {{y}};
        } else {
            for (size_t i = 0; i < fy.size(); ++i)
                KRUN_CHECK(fy[i] < 0 || by[i] < 0 || fy[i] == by[i], context(), ": merge_mode needs equal forward and backward outputs, got ",
                           shape_string(fy), " and ", shape_string(by));
            outputs = {f[0]};
        }
        outputs.insert(outputs.end(), f.begin() + 1, f.end());
        outputs.insert(outputs.end(), b.begin() + 1, b.end());
        return outputs;
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const std::vector<Tensor> f = run_inner(*forward_, inputs, kernels);
        const std::vector<Tensor> b = run_inner(*backward_, inputs, kernels);
        const Tensor & fy = f[0];
        const Tensor by = return_sequences_ ? reversed_in_time(b[0]) : b[0];
        const int64_t n = fy.size();
        float * y = outputs[0].data();
        switch (merge_) {
        case Merge::None:
            std::memcpy(y, fy.data(), n * sizeof(float));
            std::memcpy(outputs[1].data(), by.data(), by.size() * sizeof(float));
            break;
        case Merge::Concat: {
            const int64_t fw = fy.dim(-1), bw = by.dim(-1), rows = fw > 0 ? n / fw : 0;
            for (int64_t r = 0; r < rows; ++r) {
                std::memcpy(y + r * (fw + bw), fy.data() + r * fw, fw * sizeof(float));
                std::memcpy(y + r * (fw + bw) + fw, by.data() + r * bw, bw * sizeof(float));
            }
            break;
        }
        case Merge::Sum: kernels.binary(Binary::Add, fy.data(), 1, by.data(), 1, y, n); break;
        case Merge::Mul: kernels.binary(Binary::Multiply, fy.data(), 1, by.data(), 1, y, n); break;
        case Merge::Ave: {  // (y + y_rev) / 2
            const float two = 2.f;
            kernels.binary(Binary::Add, fy.data(), 1, by.data(), 1, y, n);
            kernels.binary(Binary::Divide, y, 1, &two, 0, y, n);
            break;
        }
        }
        size_t next = merge_ == Merge::None ? 2 : 1;
        for (const std::vector<Tensor> * states : {&f, &b})
            for (size_t i = 1; i < states->size(); ++i, ++next)
                std::memcpy(outputs[next].data(), (*states)[i].data(), (*states)[i].size() * sizeof(float));
    }

private:
    enum class Merge { Concat, Sum, Mul, Ave, None };

    // The backward sequence comes out in processing order: flip it back to input order.
    Tensor reversed_in_time(const Tensor & seq) const {
        const int64_t time_axis = time_major_ ? 0 : 1, steps = seq.dim(time_axis);
        const int64_t outer = time_major_ ? 1 : seq.dim(0), inner = seq.dim(-1) * (time_major_ ? seq.dim(1) : 1);
        Tensor out(seq.shape());
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t t = 0; t < steps; ++t)
                std::memcpy(out.data() + (o * steps + t) * inner, seq.data() + (o * steps + steps - 1 - t) * inner,
                            inner * sizeof(float));
        return out;
    }

    const Layer * forward_ = nullptr;
    const Layer * backward_ = nullptr;
    Merge merge_ = Merge::Concat;
    bool return_sequences_ = false, time_major_ = false;
};

// TimeDistributed: [batch, time, ...] is run as [batch * time, ...] through the inner layer,
// which is exact for layers without cross-sample state (every layer krun runs at inference).
class TimeDistributed : public Wrapper {
public:
    explicit TimeDistributed(const LayerDesc & desc) : Wrapper(desc.name, desc.class_name) {
        inner_ = &add_inner(desc.cfg().child("layer").json(), desc, "layer/", "");
    }

    int kept_mask_outputs() const override { return 1; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        const Shape & in = inputs[0].shape;
        KRUN_CHECK(in.size() >= 3, context(), ": input ", shape_string(in), " should have rank >= 3 ([batch, time, ...])");
        const std::vector<Spec> inner_out = infer_inner(*inner_, {{merged_shape(in), inputs[0].dtype}});
        KRUN_CHECK(inner_out.size() == 1, context(), ": the wrapped layer must have one output, it has ", inner_out.size());
        Shape out = {in[0], in[1]};
        out.insert(out.end(), inner_out[0].shape.begin() + 1, inner_out[0].shape.end());
        return {{out, inner_out[0].dtype}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor x = inputs[0]->reshaped(merged_shape(inputs[0]->shape()));
        std::vector<Tensor> y = {outputs[0].reshaped(merged_shape(outputs[0].shape()))};
        inner_->run({&x}, y, kernels);  // y shares storage with outputs[0]
    }

private:
    // [batch, time, rest...] -> [batch * time, rest...] (-1 when either is unknown).
    static Shape merged_shape(const Shape & s) {
        Shape merged = {s[0] < 0 || s[1] < 0 ? -1 : s[0] * s[1]};
        merged.insert(merged.end(), s.begin() + 2, s.end());
        return merged;
    }

    const Layer * inner_ = nullptr;
};

}  // namespace

std::unique_ptr<Layer> make_bidirectional(const LayerDesc & desc) { return std::make_unique<Bidirectional>(desc); }
std::unique_ptr<Layer> make_time_distributed(const LayerDesc & desc) { return std::make_unique<TimeDistributed>(desc); }

}  // namespace krun
