// The model as krun runs it: every Keras layer once (nested models included), and the calls of
// those layers as a flat list of nodes in execution order. Nested models are expanded inline, so
// a nested model called twice adds its layers' calls twice while sharing the layer objects.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "layer.h"

namespace krun {

struct ModelDesc;

// One entry of a model's `layers` list, as the loader read it.
struct LayerEntry {
    std::string name;
    std::string class_name;
    const Json * config = nullptr;
    std::vector<NodeDesc> calls;          // inbound nodes (Functional); empty in Sequential
    std::unique_ptr<ModelDesc> nested;    // set for Sequential / Functional / Model entries
    bool is_operation = false;            // Keras 3 operation node
    Spec input_spec;                      // InputLayer entries: shape and dtype
};

// A Sequential or Functional model (top level or nested), as the loader read it.
struct ModelDesc {
    std::string name;
    std::string class_name;
    std::vector<LayerEntry> layers;
    std::vector<Operand> inputs;   // Functional input_layers
    std::vector<Operand> outputs;  // Functional output_layers
    bool list_refs = true;         // node refs written as Keras 2 lists (node-index rules differ)
    bool first_layer_is_input = false;  // Sequential whose layers[0] is an InputLayer
    Spec input_spec;               // Sequential: its input (from InputLayer or first layer)
    bool has_input_spec = false;
};

// A Keras layer object plus where it lives, for weight binding and reports.
struct LayerRecord {
    std::unique_ptr<Layer> layer;
    std::string keras_path;   // key path in `.keras` weight files: "layers/conv2d_1/"
    std::string legacy_path;  // early keras_v3 files: "_layer_checkpoint_dependencies/<name>/"
    std::string model_name;   // name of the model that holds it
};

class Graph {
public:
    struct Node {
        Layer * layer = nullptr;
        std::vector<int> inputs;   // value ids
        std::vector<int> outputs;  // value ids
    };

    // Creates every layer of `top` (recursively). Nodes are added by expand() after binding.
    Graph(const ModelDesc & top, KerasVersion keras);

    // What load-time rewriting (fuse.cpp) took over: layer calls removed from the node list.
    struct Fusions {
        int batch_norms = 0;   // BatchNormalization (or per-channel Rescaling) folded into the layer before it
        int activations = 0;   // activations (incl. hard-swish / hard-sigmoid op chains) in an epilogue
        int residual_adds = 0; // Add of a layer's output and another value, in its epilogue
        int paddings = 0;      // ZeroPadding2D read by the 'valid' convolution after it
        int expand_depthwise = 0;  // 1x1 Conv2D and the DepthwiseConv2D reading it, computed together
        int input_affines = 0;  // Rescaling / BatchNormalization folded into the convolution after it
    };

    // Builds the node list (infers every value's spec, validating shapes and weights).
    // Call after the weights are bound, with the same description.
    void expand(const ModelDesc & top);

    // Picks the kernel table from `options`; for the fast kernels only, rewrites the node list
    // (fuse()) and has the layers pack their weights for the table. The reference kernels run
    // every Keras layer call as it is, on the weights as bound. Call once after expand().
    void finalize();

    // Runs the nodes (run.cpp). Safe from several threads at once. After the first run with given
    // input shapes, the graph allocates nothing but the returned outputs (the layers' own scratch
    // aside): the activations live in an arena planned for those shapes and reused.
    // The observer, when given, is called after node `node` (index into nodes()) ran, with its
    // outputs (tools: krun check); they live in the arena, so it must copy what it keeps.
    using NodeObserver = std::function<void(size_t node, const std::vector<Tensor> & outputs)>;
    std::vector<Tensor> run(const std::vector<Tensor> & inputs, const NodeObserver & observer = nullptr) const;
    // Bytes of the activation arena for inputs of these shapes; -1 when a dimension is unknown (-1)
    // or the model refuses the shapes.
    int64_t arena_bytes(const std::vector<Shape> & input_shapes) const;

    std::vector<LayerRecord> & layers() { return layers_; }
    const std::vector<LayerRecord> & layers() const { return layers_; }
    const std::vector<Node> & nodes() const { return nodes_; }      // what run() executes
    const std::vector<Node> & layer_calls() const { return layer_calls_; }  // the Keras calls, unfused
    const Fusions & fusions() const { return fusions_; }
    const std::vector<TensorInfo> & inputs() const { return inputs_; }
    const std::vector<int> & input_values() const { return input_values_; }  // value ids of inputs()
    const std::vector<TensorInfo> & outputs() const { return outputs_; }
    const Spec & value_spec(int value) const { return specs_[value]; }

    // Set by the loader.
    std::string producer;
    std::string binding_report;
    Options options;

private:
    void create_layers(const ModelDesc & model, const std::string & keras_prefix);
    std::vector<int> expand_model(const ModelDesc & model, const std::vector<int> & inputs);
    std::vector<int> expand_functional(const ModelDesc & model, const std::vector<int> & inputs);
    std::vector<int> expand_sequential(const ModelDesc & model, const std::vector<int> & inputs);
    std::vector<int> add_node(Layer * layer, std::vector<int> inputs);
    std::vector<int> add_plain_node(Layer * layer, std::vector<int> inputs);
    int input_mask(const std::vector<int> & values, std::string & error);
    int add_value(Spec spec);
    int add_constant(const Json & value, const std::string & context);
    void fuse();  // fuse.cpp

    // run.cpp: a run's activations and argument lists for one set of input shapes, planned on the
    // first run with them; a pool of them is shared by the runs (one each at a time).
    struct RunState {
        std::vector<Shape> input_shapes;                  // the shapes it was planned for
        int64_t arena_elements = 0;
        std::shared_ptr<uint32_t[]> arena;                // every value but the constants
        std::vector<Tensor> values;                       // views into the arena; the constants
        std::vector<std::vector<const Tensor *>> inputs;  // per node, into `values`
        std::vector<std::vector<Tensor>> outputs;         // per node, views of its output values
        bool per_sample = false;  // every node says so, and inputs and outputs have one sample
    };
    std::unique_ptr<RunState> plan(const std::vector<Shape> & input_shapes) const;
    // A state planned for the inputs' shapes (with one sample: their first dimension 1), from
    // the pool when one is there (without allocating), else newly planned.
    std::unique_ptr<RunState> take_state(const std::vector<Tensor> & inputs, bool one_sample) const;
    // Copies `count` elements of `given` from element `offset` into the state's input i, with
    // the Keras casts between float32 and int32.
    void load_input(RunState & state, size_t i, const Tensor & given, int64_t offset, int64_t count) const;
    void execute(RunState & state, const NodeObserver & observer) const;
    // run() of a batch whose graph computes every sample alone: one sample at a time, on the
    // plan for one sample (whose activations stay in cache). Empty when the graph cannot.
    std::vector<Tensor> run_by_sample(const std::vector<Tensor> & inputs) const;
    void give_back(std::unique_ptr<RunState> state) const;
    mutable std::mutex pool_mutex_;
    mutable std::vector<std::unique_ptr<RunState>> pool_;

    const Kernels * kernels_ = nullptr;
    KerasVersion keras_;
    std::vector<LayerRecord> layers_;
    std::map<const LayerEntry *, Layer *> layer_of_;
    std::vector<Node> nodes_;
    std::vector<Node> layer_calls_;
    Fusions fusions_;
    std::vector<Spec> specs_;
    std::map<int, Tensor> constants_;
    std::vector<int> input_values_, output_values_;
    // Keras masks (layer.h): per value, the value holding its mask, or -1. A mask krun cannot
    // compute is -1 with the reason in mask_error_, reported if a consumer needs it.
    std::vector<int> mask_of_;
    std::map<int, std::string> mask_error_;
    std::unique_ptr<Layer> mask_combine_;  // hidden layer combining masks (merges)
    std::vector<int> last_use_;  // per value: index of the last node reading it (-1: output or unused)
    std::vector<TensorInfo> inputs_, outputs_;
};

}  // namespace krun
