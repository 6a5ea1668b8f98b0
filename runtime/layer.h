// The Layer interface: one object per Keras layer, called once per node of the graph.
//
// Life cycle: a factory builds the layer from its LayerDesc (config only) and declares the
// weights it expects; the loader binds manifest tensors to those slots; prepare() runs once;
// then infer() + run() for every call. infer() validates (throws krun::Error); run() trusts it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "kernels/kernels.h"

namespace krun {

using Shape = std::vector<int64_t>;  // Keras order; -1 where unknown (batch, time steps)

// Shape and dtype of a value flowing between layers.
struct Spec {
    Shape shape;
    DType dtype = DType::Float32;
};

// Which Keras produced the file: some formulas differ (hard_sigmoid, hard_swish, ...).
enum class KerasVersion { Keras2, Keras3 };

// One argument of a layer call: a tensor produced by another layer's call, or a JSON constant.
struct Operand {
    bool is_tensor = false;
    std::string layer;        // producing layer (tensor operands)
    int64_t node = 0;         // call index of that layer, as written in the file
    int64_t tensor = 0;       // output index of that call
    Json constant;            // constant operands
};

// One call of a layer: positional operands (lists flattened in order) and keyword arguments
// (tensor kwargs such as TFOpLambda's `y` are moved into `operands`).
struct NodeDesc {
    std::vector<Operand> operands;
    Json kwargs = Json::object();
};

// Everything a layer factory may read.
struct LayerDesc {
    std::string name;
    std::string class_name;
    const Json * config = nullptr;       // the layer's `config` object
    KerasVersion keras = KerasVersion::Keras2;
    const NodeDesc * first_call = nullptr;  // null in Sequential models
    bool is_operation = false;  // a Keras 3 operation node (keras.ops.*), not a Layer

    Config cfg() const { return Config(*config, context()); }
    std::string context() const { return cat("layer '", name, "' (", class_name, ")"); }
};

// A weight the layer expects, and what the loader bound to it.
struct WeightSlot {
    std::string name;        // Keras weight name: "kernel", "bias", "moving_mean", ...
    std::string scope_hint;  // a path component that must appear in the manifest name when several
                             // slots share `name` (Bidirectional "forward"/"backward", a cell name)
    std::string keras_path;  // path below the layer's key in `.keras` files: "vars/0", "cell/vars/1"
    Tensor value;            // empty until bound; released by a layer that keeps it packed
    Shape shape;             // the bound value's shape (set by Layer::prepare), kept after release
    std::string source;      // manifest name it was bound from
    bool bound() const { return !source.empty(); }
};

class FusableLayer;

class Layer {
public:
    Layer(std::string name, std::string class_name)
        : name_(std::move(name)), class_name_(std::move(class_name)) {}
    virtual ~Layer() = default;

    // Output specs of one call for these input specs (dimensions may be -1 at load time).
    // Validates input count, ranks, known dimensions and weight shapes; throws krun::Error.
    virtual std::vector<Spec> infer(const std::vector<Spec> & inputs) const = 0;

    // Computes one call. `outputs` were allocated with the shapes infer() returned for the
    // concrete input shapes, zero-filled unless writes_every_output(). Must not throw.
    virtual void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
                     const Kernels & kernels) const = 0;

    // True when run() assigns every element of its outputs, so the graph can hand it reused arena
    // memory without zeroing it first (a measurable share of a MobileNet run).
    virtual bool writes_every_output() const { return false; }

    // True when, for inputs of these specs, sample i of every output (index i along axis 0) is
    // computed from sample i of the inputs alone (constants aside): the graph may then run a batch
    // one sample at a time, its activations staying in cache. False unless the layer says so.
    virtual bool per_sample(const std::vector<Spec> & inputs) const { return false; }

    // Called once after binding, before the first infer(): checks that every weight is bound.
    // Layers that pack weights or hand them to an inner layer override it (and call this one).
    virtual void prepare();

    // Called once when the graph is final, with the kernel table the model runs on: layers that
    // keep weights in the table's packed layout (Kernels::pack_b) build them here.
    virtual void pack_weights(const Kernels & kernels) {}

    // What load-time graph rewriting (runtime/fuse.cpp) needs to know of a layer. Each answer
    // true means the layer computes exactly that, for every input it accepts:
    // y = op(x), one input;
    virtual bool as_unary(UnaryArgs & op) const { return false; }
    // y = a (op) b element-wise with broadcasting, two inputs (fuse.cpp checks their shapes);
    virtual bool as_binary(Binary & op) const { return false; }
    // y = x * scale[c] + shift[c], c the index along the last axis of an input of this rank (a
    // scale or shift of one value holds for every channel);
    virtual bool as_channel_affine(int64_t rank, std::vector<double> & scale, std::vector<double> & shift) const {
        return false;
    }
    // zero padding of the two spatial axes of an NHWC input: rows top/bottom, columns left/right.
    virtual bool as_zero_padding_2d(int64_t & top, int64_t & bottom, int64_t & left, int64_t & right) const {
        return false;
    }
    // A layer that can take over the layers that follow it (Dense, convolutions), or null.
    virtual FusableLayer * fusable() { return nullptr; }

    // Binary math layers (TFOpLambda add, Keras 3 ops) take constant operands as extra inputs.
    virtual bool accepts_constant_operands() const { return false; }

    // Keras masks. A mask says which time steps count: an Int32 tensor of 0/1 (krun's form of a
    // Keras bool tensor) shaped like the masked value without its last axis ([batch, time] for
    // sequences). Like Keras at run time, the graph propagates masks along the values
    // (Graph::add_node) with these three answers; a mask given explicitly wins (Keras 3 functional
    // files pass it as the `mask` call argument, which the loader appends as the last operand).
    // Consumers (RNNs, Bidirectional, GlobalAveragePooling1D) take the mask of their input as an
    // extra last input, when it has one: a last input of dtype Int32 is the mask.
    virtual bool accepts_mask() const { return false; }
    // How many outputs (from output 0) carry the input's mask, combined over several inputs as
    // Keras merges do: 1 for Keras layers with supports_masking and the default compute_mask, and
    // for RNNs with return_sequences. Other outputs and layers drop the mask, as in Keras. Classes
    // whose files do not override this are listed in graph.cpp.
    virtual int kept_mask_outputs() const { return 0; }
    // Producers (Masking, Embedding with mask_zero): the layer that computes the mask of output 0
    // from this layer's inputs; the graph calls it as a hidden node. It ignores any input mask.
    virtual Layer * mask_layer() { return nullptr; }

    const std::string & name() const { return name_; }
    const std::string & class_name() const { return class_name_; }
    std::string context() const { return cat("layer '", name_, "' (", class_name_, ")"); }
    std::vector<WeightSlot> & weight_slots() { return weights_; }
    const std::vector<WeightSlot> & weight_slots() const { return weights_; }
    int64_t parameter_count() const;

protected:
    // Declares weight slot i (in Keras creation order); returns its index.
    size_t declare_weight(const std::string & name, const std::string & keras_path = "",
                          const std::string & scope_hint = "");
    const Tensor & weight(size_t slot) const { return weights_[slot].value; }
    Tensor & mutable_weight(size_t slot) { return weights_[slot].value; }
    // Throws unless weight `slot` has exactly `shape` (`why` says where the shape comes from).
    void check_weight(size_t slot, const Shape & shape, const std::string & why) const;
    // Throws unless there are `count` inputs.
    void check_input_count(const std::vector<Spec> & inputs, size_t count) const;
    // Throws unless input `i` is float32 with rank in [min_rank, max_rank].
    void check_float_input(const std::vector<Spec> & inputs, size_t i, int64_t min_rank, int64_t max_rank) const;

private:
    std::string name_;
    std::string class_name_;
    std::vector<WeightSlot> weights_;
};

using LayerFactory = std::unique_ptr<Layer> (*)(const LayerDesc &);

// True when none of `axes` (negative: counted from the end) is axis 0 of a tensor of `rank`.
bool spares_batch_axis(const std::vector<int64_t> & axes, int64_t rank);

// Builds the layer for desc.class_name (the registry), or throws naming the layer and class.
std::unique_ptr<Layer> make_layer(const LayerDesc & desc);

}  // namespace krun
