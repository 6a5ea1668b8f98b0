// Load-time graph rewriting for the fast kernels (Graph::finalize; never with --ref, which runs
// every Keras layer call). A Dense / Conv / DepthwiseConv node (fusable.h) takes over what follows
// it when it is the only reader of its output and that output is not a model output:
// - a BatchNormalization on the channel axis, folded into kernel and bias;
// - an element-wise activation (ReLU, Activation, LeakyReLU, op nodes, ...), in the epilogue;
// - tf-keras' hard-sigmoid chain relu6(x + 3) * (1/6) and hard-swish x * that, as the epilogue's
//   HardSigmoidKeras3 / HardSilu (relu6(x + 3) / 6: a division instead of the multiplication by
//   float(1/6), which may differ in the last bit);
// - an Add of its output and another value computed before it, as the epilogue's residual.
// A ZeroPadding2D read only by a 'valid' Conv2D / DepthwiseConv2D becomes the convolution's
// padding. Then a Rescaling or BatchNormalization read only by a Dense / Conv is folded into its
// kernel and bias (the padding reading the input that maps to zero). Last, a 1x1 Conv2D read only
// by a DepthwiseConv2D computes it too (both with what they took over), the expanded tensor
// between them never stored whole. The layer taking over must
// have no other call (it is changed for all its calls).
#include <algorithm>
#include <cmath>

#include "fusable.h"
#include "graph.h"

namespace krun {

void Graph::fuse() {
    auto is_output = [&](int v) { return std::find(output_values_.begin(), output_values_.end(), v) != output_values_.end(); };
    // The live nodes reading value v.
    auto readers = [&](int v) {
        std::vector<size_t> found;
        for (size_t n = 0; n < nodes_.size(); ++n)
            if (nodes_[n].layer && std::count(nodes_[n].inputs.begin(), nodes_[n].inputs.end(), v)) found.push_back(n);
        return found;
    };
    // The one node reading v, or -1 (none, several, or v is a model output).
    auto only_reader = [&](int v) -> long {
        const std::vector<size_t> r = readers(v);
        return r.size() == 1 && !is_output(v) ? static_cast<long>(r[0]) : -1;
    };
    // Node n is removed; its output is now `v` (same spec) for every reader and the model outputs.
    auto take_over = [&](size_t n, int v) {
        const int old = nodes_[n].outputs[0];
        nodes_[n].layer = nullptr;
        for (Node & node : nodes_)
            std::replace(node.inputs.begin(), node.inputs.end(), old, v);
        std::replace(output_values_.begin(), output_values_.end(), old, v);
    };
    auto single_call = [&](const Layer * layer) {
        return std::count_if(layer_calls_.begin(), layer_calls_.end(), [&](const Node & c) { return c.layer == layer; }) == 1;
    };
    auto scalar_constant = [&](int v, float & value) {
        auto c = constants_.find(v);
        if (c == constants_.end() || c->second.size() != 1 || c->second.dtype() != DType::Float32) return false;
        value = c->second.data()[0];
        return true;
    };
    // Node n is `x (op) constant` (either order) for a scalar constant; returns x or -1.
    auto with_constant = [&](size_t n, Binary op, float & constant) -> int {
        Binary found;
        const Node & node = nodes_[n];
        if (!node.layer->as_binary(found) || found != op || node.inputs.size() != 2) return -1;
        if (scalar_constant(node.inputs[1], constant)) return node.inputs[0];
        if (scalar_constant(node.inputs[0], constant)) return node.inputs[1];
        return -1;
    };
    auto unary_of = [&](size_t n, Unary op) {
        UnaryArgs found;
        return nodes_[n].inputs.size() == 1 && nodes_[n].layer->as_unary(found) && found.op == op;
    };
    // tf-keras hard_sigmoid from node `add` on: add(x, 3) -> relu6 -> multiply(1/6); the last
    // node, or -1.
    auto hard_sigmoid_chain = [&](size_t add) -> long {
        float three = 0.f, sixth = 0.f;
        if (with_constant(add, Binary::Add, three) < 0 || three != 3.f) return -1;
        const long relu6 = only_reader(nodes_[add].outputs[0]);
        if (relu6 < 0 || !unary_of(relu6, Unary::Relu6)) return -1;
        const long scale = only_reader(nodes_[relu6].outputs[0]);
        if (scale < 0 || with_constant(scale, Binary::Multiply, sixth) < 0 || sixth != static_cast<float>(1.0 / 6.0)) return -1;
        return scale;
    };

    // Paddings first: they precede the convolution, whose epilogue fusions follow.
    for (size_t z = 0; z < nodes_.size(); ++z) {
        int64_t top, bottom, left, right;
        if (!nodes_[z].layer || nodes_[z].inputs.size() != 1 ||
            !nodes_[z].layer->as_zero_padding_2d(top, bottom, left, right))
            continue;
        const long c = only_reader(nodes_[z].outputs[0]);
        if (c < 0 || nodes_[c].inputs.size() != 1 || !single_call(nodes_[c].layer)) continue;
        FusableLayer * conv = nodes_[c].layer->fusable();
        if (!conv || !conv->fuse_padding(top, bottom, left, right)) continue;
        nodes_[c].inputs[0] = nodes_[z].inputs[0];
        nodes_[z].layer = nullptr;
        ++fusions_.paddings;
    }

    for (size_t p = 0; p < nodes_.size(); ++p) {
        Node & producer = nodes_[p];
        if (!producer.layer || producer.outputs.size() != 1 || !single_call(producer.layer)) continue;
        FusableLayer * layer = producer.layer->fusable();
        if (!layer) continue;
        const int v = producer.outputs[0];
        if (is_output(v)) continue;
        for (bool fused = true; fused;) {
            fused = false;
            const std::vector<size_t> r = readers(v);
            if (r.size() == 2) {
                // Hard-swish: add(v, 3) -> relu6 -> multiply(1/6) -> multiply(v, that), either order.
                for (int first = 0; first < 2 && !fused; ++first) {
                    const size_t add = r[first], product = r[1 - first];
                    const long sigmoid = hard_sigmoid_chain(add);
                    const Node & y = nodes_[product];
                    Binary op;
                    if (sigmoid < 0 || only_reader(nodes_[sigmoid].outputs[0]) != static_cast<long>(product) ||
                        !y.layer->as_binary(op) || op != Binary::Multiply || y.inputs.size() != 2 ||
                        specs_[y.outputs[0]].shape != specs_[v].shape ||
                        !layer->fuse_activation({Unary::HardSilu}))
                        continue;
                    for (size_t n : {add, static_cast<size_t>(only_reader(nodes_[add].outputs[0])), static_cast<size_t>(sigmoid)})
                        nodes_[n].layer = nullptr;
                    take_over(product, v);
                    ++fusions_.activations;
                    fused = true;
                }
                continue;
            }
            if (r.size() != 1) break;
            const size_t c = r[0];
            Node & consumer = nodes_[c];
            if (consumer.outputs.size() != 1 || specs_[consumer.outputs[0]].shape != specs_[v].shape) break;
            std::vector<double> scale, shift;
            UnaryArgs op;
            Binary binary;
            if (consumer.inputs.size() == 1 &&
                consumer.layer->as_channel_affine(static_cast<int64_t>(specs_[v].shape.size()), scale, shift) &&
                layer->fold_channel_affine(scale, shift)) {
                take_over(c, v);
                ++fusions_.batch_norms;
                fused = true;
            } else if (consumer.inputs.size() == 1 && consumer.layer->as_unary(op) && layer->fuse_activation(op)) {
                take_over(c, v);
                ++fusions_.activations;
                fused = true;
            } else if (const long last = hard_sigmoid_chain(c);
                       last >= 0 && specs_[nodes_[last].outputs[0]].shape == specs_[v].shape &&
                       layer->fuse_activation({Unary::HardSigmoidKeras3})) {
                nodes_[only_reader(consumer.outputs[0])].layer = nullptr;
                consumer.layer = nullptr;
                take_over(last, v);
                ++fusions_.activations;
                fused = true;
            } else if (consumer.inputs.size() == 2 && consumer.layer->as_binary(binary) && binary == Binary::Add) {
                // The other operand must exist when the producer runs: computed before it.
                const int other = consumer.inputs[0] == v ? consumer.inputs[1] : consumer.inputs[0];
                bool earlier = other != v && specs_[other].shape == specs_[v].shape && specs_[other].dtype == DType::Float32;
                for (size_t n = p; earlier && n < nodes_.size(); ++n)
                    earlier = std::find(nodes_[n].outputs.begin(), nodes_[n].outputs.end(), other) == nodes_[n].outputs.end();
                if (earlier && layer->fuse_residual()) {
                    producer.inputs.push_back(other);
                    take_over(c, v);
                    ++fusions_.residual_adds;
                }
                break;  // nothing follows a residual in the epilogue
            }
        }
    }
    // A Rescaling (or BatchNormalization) of float input read only by a Dense / Conv: folded into
    // its kernel and bias, after the folds above (an affine right after a convolution folds into
    // that one's output instead, at no cost).
    for (size_t n = 0; n < nodes_.size(); ++n) {
        const Node & affine = nodes_[n];
        std::vector<double> scale, shift;
        if (!affine.layer || affine.inputs.size() != 1 || affine.outputs.size() != 1 ||
            specs_[affine.inputs[0]].dtype != DType::Float32 ||
            !affine.layer->as_channel_affine(static_cast<int64_t>(specs_[affine.inputs[0]].shape.size()), scale, shift))
            continue;
        const long c = only_reader(affine.outputs[0]);
        if (c < 0 || nodes_[c].inputs.size() != 1 || !single_call(nodes_[c].layer)) continue;
        FusableLayer * layer = nodes_[c].layer->fusable();
        if (!layer || !layer->fold_input_affine(scale, shift)) continue;
        nodes_[c].inputs[0] = affine.inputs[0];
        nodes_[n].layer = nullptr;
        ++fusions_.input_affines;
    }
    // Expansions and the depthwise convolutions reading them, each done with its own fusions.
    for (size_t p = 0; p < nodes_.size(); ++p) {
        Node & producer = nodes_[p];
        if (!producer.layer || producer.outputs.size() != 1 || !single_call(producer.layer)) continue;
        FusableLayer * layer = producer.layer->fusable();
        const long d = only_reader(producer.outputs[0]);
        if (!layer || d < 0 || nodes_[d].inputs[0] != producer.outputs[0] || nodes_[d].outputs.size() != 1 ||
            !single_call(nodes_[d].layer))
            continue;
        // The depthwise's other inputs (a fused residual) must exist when the producer runs.
        bool ready = true;
        for (size_t i = 1; i < nodes_[d].inputs.size(); ++i)
            for (long n = static_cast<long>(p); ready && n < d; ++n)
                ready = !nodes_[n].layer || std::find(nodes_[n].outputs.begin(), nodes_[n].outputs.end(),
                                                      nodes_[d].inputs[i]) == nodes_[n].outputs.end();
        if (!ready || !layer->fuse_depthwise(nodes_[d].layer)) continue;
        producer.inputs.insert(producer.inputs.end(), nodes_[d].inputs.begin() + 1, nodes_[d].inputs.end());
        producer.outputs = nodes_[d].outputs;
        nodes_[d].layer = nullptr;
        ++fusions_.expand_depthwise;
    }
    nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [](const Node & n) { return n.layer == nullptr; }), nodes_.end());
}

}  // namespace krun
