#include "graph.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace krun {

namespace {

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// keras.src.utils.naming.to_snake_case: the key of a layer in `.keras` weight files. Its three
// re.sub passes (r"\W+" -> "", "(.)([A-Z][a-z]+)" -> r"\1_\2", "([a-z])([A-Z])" -> r"\1_\2",
// then lower()), each scanning left to right over non-overlapping matches as re.sub does.
std::string to_snake_case(const std::string & name) {
    std::string word;
    for (char c : name)
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') word += c;
    std::string split_words;
    for (size_t i = 0; i < word.size();) {
        if (i + 2 < word.size() && is_upper(word[i + 1]) && is_lower(word[i + 2])) {
            size_t end = i + 3;
            while (end < word.size() && is_lower(word[end])) ++end;
            split_words += word.substr(i, 1) + "_" + word.substr(i + 1, end - i - 1);
            i = end;
        } else {
            split_words += word[i++];
        }
    }
    std::string snake;
    for (size_t i = 0; i < split_words.size();) {
        if (i + 1 < split_words.size() && is_lower(split_words[i]) && is_upper(split_words[i + 1])) {
            snake += split_words.substr(i, 1) + "_" + split_words[i + 1];
            i += 2;
        } else {
            snake += split_words[i++];
        }
    }
    for (char & c : snake) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return snake;
}

// A model's own calls are numbered from 1 in Keras 2 list refs (node 0 is the model's internal
// node) when it is a Functional, or a Sequential with an InputLayer (format-spec 1.10).
int64_t nested_call_index(const LayerEntry & entry, int64_t node, bool list_refs, bool model_level_ref) {
    const ModelDesc & m = *entry.nested;
    const bool offset = (list_refs || model_level_ref) &&
                        (m.class_name != "Sequential" || (list_refs && m.first_layer_is_input));
    const int64_t calls = static_cast<int64_t>(std::max<size_t>(entry.calls.size(), 1));
    const int64_t adjusted = offset ? node - 1 : node;
    // Files from producers that do not follow the rule exactly: keep the index when it is the
    // only one in range.
    if (adjusted < 0 || adjusted >= calls) return node;
    return adjusted;
}

// Masks of one shape combined element-wise, by logical and (Keras 2 merges) or or (Keras 3
// merges): a hidden graph node.
class MaskCombine : public Layer {
public:
    explicit MaskCombine(bool any) : Layer(any ? "mask_or" : "mask_and", "MaskCombine"), any_(any) {}
    bool per_sample(const std::vector<Spec> &) const override { return true; }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        Shape out = inputs.at(0).shape;
        for (const Spec & m : inputs) {
            bool same = m.dtype == DType::Int32 && m.shape.size() == out.size();
            for (size_t d = 0; same && d < out.size(); ++d) {
                same = out[d] < 0 || m.shape[d] < 0 || out[d] == m.shape[d];
                if (out[d] < 0) out[d] = m.shape[d];
            }
            KRUN_CHECK(same, "masks of shapes ", shape_string(inputs[0].shape), " and ", shape_string(m.shape),
                       " cannot be combined");
        }
        return {{out, DType::Int32}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs, const Kernels &) const override {
        int32_t * y = outputs[0].data_i32();
        for (int64_t i = 0; i < outputs[0].size(); ++i) {
            bool result = !any_;
            for (const Tensor * m : inputs) result = any_ ? result || m->data_i32()[i] != 0 : result && m->data_i32()[i] != 0;
            y[i] = result;
        }
    }

private:
    bool any_;
};

// Classes whose files do not answer Layer::kept_mask_outputs(): Keras layers with
// supports_masking and the default compute_mask (`supports_masking = True` in tf_keras / keras).
bool keeps_mask_by_class(const std::string & class_name, KerasVersion keras) {
    static const std::set<std::string> both = {"Dense", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
                                               "BatchNormalization", "LayerNormalization"};
    if (both.count(class_name)) return true;
    if (keras == KerasVersion::Keras2) return class_name == "ThresholdedReLU";
    return class_name == "Rescaling" || class_name == "Normalization";
}

// A Keras 3 call's `mask` argument: the loader appends it last; in a layer call (not an op) it is
// the only Int32 operand that follows a float32 first operand (layer.h).
bool has_mask_operand(const std::vector<Spec> & inputs) {
    return inputs.size() > 1 && inputs.front().dtype == DType::Float32 && inputs.back().dtype == DType::Int32;
}

}  // namespace

Graph::Graph(const ModelDesc & top, KerasVersion keras)
    : keras_(keras), mask_combine_(std::make_unique<MaskCombine>(keras == KerasVersion::Keras3)) {
    create_layers(top, "");
}

void Graph::create_layers(const ModelDesc & model, const std::string & keras_prefix) {
    std::map<std::string, int> key_counts;
    for (const LayerEntry & entry : model.layers) {
        // `.keras` files number layers per class within each model; Sequential's InputLayer and
        // Keras 3 operation nodes are not in `model.layers`, so they take no number.
        std::string key_path;
        const bool listed = !entry.is_operation && !(model.class_name == "Sequential" && entry.class_name == "InputLayer");
        if (listed) {
            const std::string snake = to_snake_case(entry.class_name);
            const int count = key_counts[snake]++;
            key_path = keras_prefix + "layers/" + (count ? cat(snake, "_", count) : snake) + "/";
        }
        if (entry.nested) {
            create_layers(*entry.nested, key_path);
            continue;
        }
        if (entry.class_name == "InputLayer") continue;
        LayerDesc desc;
        desc.name = entry.name;
        desc.class_name = entry.class_name;
        desc.config = entry.config;
        desc.keras = keras_;
        desc.first_call = entry.calls.empty() ? nullptr : &entry.calls[0];
        desc.is_operation = entry.is_operation;
        LayerRecord record;
        record.layer = make_layer(desc);
        record.keras_path = key_path;
        record.legacy_path = keras_prefix + "_layer_checkpoint_dependencies/" + entry.name + "/";
        record.model_name = model.name;
        layer_of_[&entry] = record.layer.get();
        layers_.push_back(std::move(record));
    }
}

int Graph::add_value(Spec spec) {
    specs_.push_back(std::move(spec));
    mask_of_.push_back(-1);
    return static_cast<int>(specs_.size()) - 1;
}

int Graph::add_constant(const Json & value, const std::string & context) {
    Shape shape;
    std::vector<float> values;
    // Nested lists of numbers (TF converts Python scalars and lists to float32 tensors).
    const Json * level = &value;
    while (level->is_array()) {
        shape.push_back(static_cast<int64_t>(level->size()));
        if (level->empty()) break;
        level = &(*level)[0];
    }
    std::function<void(const Json &, size_t)> flatten = [&](const Json & v, size_t depth) {
        if (depth == shape.size()) {
            KRUN_CHECK(v.is_number(), context, ": constant operand should be numeric, found ", v.dump());
            values.push_back(static_cast<float>(v.get<double>()));
            return;
        }
        KRUN_CHECK(v.is_array() && static_cast<int64_t>(v.size()) == shape[depth], context,
                   ": constant operand is not a rectangular array: ", value.dump());
        for (const Json & e : v) flatten(e, depth + 1);
    };
    flatten(value, 0);
    const int id = add_value({shape, DType::Float32});
    constants_.emplace(id, Tensor(shape, values));
    return id;
}

std::vector<int> Graph::add_plain_node(Layer * layer, std::vector<int> inputs) {
    std::vector<Spec> in_specs;
    for (int v : inputs) in_specs.push_back(specs_[v]);
    std::vector<Spec> out_specs = layer->infer(in_specs);
    Node node;
    node.layer = layer;
    node.inputs = std::move(inputs);
    for (Spec & s : out_specs) node.outputs.push_back(add_value(std::move(s)));
    nodes_.push_back(node);
    return nodes_.back().outputs;
}

// The mask carried by `values` together: Keras 2 merges and-combine the masks there are, Keras 3
// merges or-combine them and drop them if one value has none. -1 when there is none, or, with
// `error` set, when it cannot be computed.
int Graph::input_mask(const std::vector<int> & values, std::string & error) {
    std::vector<int> masks;
    for (int v : values) {
        if (mask_error_.count(v)) {
            error = mask_error_.at(v);
            return -1;
        }
        if (mask_of_[v] < 0 && keras_ == KerasVersion::Keras3) return -1;
        if (mask_of_[v] >= 0 && std::find(masks.begin(), masks.end(), mask_of_[v]) == masks.end())
            masks.push_back(mask_of_[v]);
    }
    if (masks.size() <= 1) return masks.empty() ? -1 : masks[0];
    try {
        return add_plain_node(mask_combine_.get(), masks)[0];
    } catch (const Error & e) {
        error = e.what();
        return -1;
    }
}

// Adds a call of `layer` and propagates Keras masks (layer.h): a consumer gets the mask of its
// input as an extra last input unless the call passes one explicitly (Keras 3 `mask`); the
// outputs get the mask the layer computes or keeps.
std::vector<int> Graph::add_node(Layer * layer, std::vector<int> inputs) {
    std::vector<Spec> in_specs;
    for (int v : inputs) in_specs.push_back(specs_[v]);
    const bool accepts = layer->accepts_mask();
    const int kept = std::max(layer->kept_mask_outputs(), keeps_mask_by_class(layer->class_name(), keras_) ? 1 : 0);
    const bool keeps = kept > 0;
    Layer * producer = layer->mask_layer();

    const bool mask_operand = !layer->accepts_constant_operands() && has_mask_operand(in_specs);
    int mask = -1;
    std::string mask_error;
    if (mask_operand) {
        mask = inputs.back();
        if (!accepts) {
            // Keras 3 passes `mask` to every layer whose call takes one; these ignore it at inference.
            const std::string & cls = layer->class_name();
            KRUN_CHECK(cls == "BatchNormalization" || cls == "TimeDistributed", layer->context(),
                       ": receives a Keras mask (call argument 'mask'), which krun supports only in RNNs, "
                       "Bidirectional, GlobalAveragePooling1D and layers that pass masks on unchanged");
            inputs.pop_back();
        }
    } else if (accepts) {
        // Consumers use the mask of their first input (the sequence). Keras 3 looks it up only
        // when that is the call's only tensor (no initial states).
        if (keras_ == KerasVersion::Keras2 || inputs.size() == 1) mask = input_mask({inputs[0]}, mask_error);
        KRUN_CHECK(mask_error.empty(), layer->context(), " needs the Keras mask of its input, but ", mask_error);
        if (mask >= 0) inputs.push_back(mask);
    } else if (keeps && !producer) {
        mask = input_mask(inputs, mask_error);
    }
    KRUN_CHECK(mask < 0 || layer->class_name() != "Softmax", layer->context(),
               ": Softmax with a Keras mask is not supported");

    std::vector<int> outputs = add_plain_node(layer, inputs);
    if (producer) {
        if (mask_operand) inputs.pop_back();
        mask_of_[outputs[0]] = add_plain_node(producer, inputs)[0];
    }
    for (int k = 0; k < kept && k < static_cast<int>(outputs.size()); ++k) {
        const int y = outputs[k];
        if (!mask_error.empty()) {
            mask_error_[y] = mask_error;
        } else if (mask >= 0) {
            // Keras attaches the mask as it is; krun checks it still marks the output's leading
            // [batch, time, ...] dimensions.
            const Shape & m = specs_[mask].shape, & out = specs_[y].shape;
            bool fits = m.size() < out.size();
            for (size_t d = 0; fits && d < m.size(); ++d) fits = m[d] < 0 || out[d] < 0 || m[d] == out[d];
            if (fits) mask_of_[y] = mask;
            else mask_error_[y] = cat("the mask of shape ", shape_string(m), " passed on by ", layer->context(),
                                      " does not fit its output ", shape_string(out));
        }
    }
    return outputs;
}

void Graph::expand(const ModelDesc & top) {
    if (top.class_name == "Sequential") {
        KRUN_CHECK(top.has_input_spec, "model '", top.name,
                   "': Sequential model has no input shape (no InputLayer and no batch_input_shape on its first layer)");
        input_values_.push_back(add_value(top.input_spec));
        inputs_.push_back({top.layers.empty() ? top.name : top.layers[0].name, top.input_spec.shape, top.input_spec.dtype});
    } else {
        for (const Operand & ref : top.inputs) {
            const LayerEntry * entry = nullptr;
            for (const LayerEntry & e : top.layers)
                if (e.name == ref.layer) entry = &e;
            KRUN_CHECK(entry && entry->class_name == "InputLayer", "model '", top.name, "': input_layers names '",
                       ref.layer, "', which is not an InputLayer of the model");
            input_values_.push_back(add_value(entry->input_spec));
            inputs_.push_back({ref.layer, entry->input_spec.shape, entry->input_spec.dtype});
        }
    }
    output_values_ = expand_model(top, input_values_);
    for (size_t i = 0; i < output_values_.size(); ++i) {
        const std::string name = top.class_name == "Sequential"
                                     ? (top.layers.empty() ? top.name : top.layers.back().name)
                                     : top.outputs.at(i).layer;
        outputs_.push_back({name, specs_[output_values_[i]].shape, specs_[output_values_[i]].dtype});
    }
    layer_calls_ = nodes_;
}

void Graph::finalize() {
    kernels_ = options.reference_kernels ? &kernels_ref() : &kernels_fast();
    // The reference runs every Keras layer call on the weights exactly as bound (krun check reads
    // them back); only the fast path fuses and repacks.
    if (!options.reference_kernels) {
        fuse();
        for (LayerRecord & r : layers_) r.layer->pack_weights(*kernels_);
    }
    last_use_.assign(specs_.size(), -1);
    for (size_t n = 0; n < nodes_.size(); ++n)
        for (int v : nodes_[n].inputs) last_use_[v] = static_cast<int>(n);
    for (int v : output_values_) last_use_[v] = -1;
}

std::vector<int> Graph::expand_model(const ModelDesc & model, const std::vector<int> & inputs) {
    return model.class_name == "Sequential" ? expand_sequential(model, inputs) : expand_functional(model, inputs);
}

std::vector<int> Graph::expand_sequential(const ModelDesc & model, const std::vector<int> & inputs) {
    KRUN_CHECK(inputs.size() == 1, "model '", model.name, "' (Sequential): called with ", inputs.size(),
               " inputs, expects 1");
    std::vector<int> current = inputs;
    for (const LayerEntry & entry : model.layers) {
        if (entry.class_name == "InputLayer") continue;
        KRUN_CHECK(current.size() == 1, "model '", model.name, "' (Sequential): layer '", entry.name,
                   "' receives ", current.size(), " tensors from the previous layer; Sequential layers take one");
        current = entry.nested ? expand_model(*entry.nested, current) : add_node(layer_of_.at(&entry), current);
    }
    return current;
}

std::vector<int> Graph::expand_functional(const ModelDesc & model, const std::vector<int> & inputs) {
    KRUN_CHECK(inputs.size() == model.inputs.size(), "model '", model.name, "': called with ", inputs.size(),
               " inputs, expects ", model.inputs.size());
    std::map<std::string, const LayerEntry *> by_name;
    for (const LayerEntry & e : model.layers) by_name.emplace(e.name, &e);  // names are unique (loader)
    // (layer name, call index, output index) -> value id
    std::map<std::tuple<std::string, int64_t, int64_t>, int> produced;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::string & name = model.inputs[i].layer;
        KRUN_CHECK(by_name.count(name), "model '", model.name, "': input_layers names unknown layer '", name, "'");
        produced[{name, 0, 0}] = inputs[i];
    }
    auto call_index = [&](const LayerEntry & producer, int64_t node, bool model_level) {
        return producer.nested ? nested_call_index(producer, node, model.list_refs, model_level) : node;
    };
    auto lookup = [&](const Operand & ref, bool model_level) -> const int * {
        auto p = by_name.find(ref.layer);
        if (p == by_name.end()) return nullptr;
        auto it = produced.find({ref.layer, call_index(*p->second, ref.node, model_level), ref.tensor});
        return it == produced.end() ? nullptr : &it->second;
    };

    // Keras' reconstruction order: sweep the layer list until no queued call can run; a call runs
    // once all its tensor operands exist, which handles shared layers at different depths.
    std::set<std::pair<const LayerEntry *, size_t>> done;
    size_t total = 0;
    for (const LayerEntry & e : model.layers)
        if (e.class_name != "InputLayer") total += e.calls.size();
    while (done.size() < total) {
        const size_t before = done.size();
        for (const LayerEntry & entry : model.layers) {
            if (entry.class_name == "InputLayer") continue;
            for (size_t k = 0; k < entry.calls.size(); ++k) {
                if (done.count({&entry, k})) continue;
                const NodeDesc & call = entry.calls[k];
                std::vector<int> args;
                bool ready = true;
                for (const Operand & op : call.operands) {
                    if (!op.is_tensor) continue;
                    KRUN_CHECK(by_name.count(op.layer), "model '", model.name, "': layer '", entry.name,
                               "' takes its input from unknown layer '", op.layer, "'");
                    const int * v = lookup(op, false);
                    if (!v) { ready = false; break; }
                    args.push_back(*v);
                }
                if (!ready) continue;
                std::vector<int> outs;
                if (entry.nested) {
                    // Keras 3 also passes a nested model the mask of its input (call argument
                    // `mask`), which the graph already carries with that input.
                    std::vector<Spec> arg_specs;
                    for (int v : args) arg_specs.push_back(specs_[v]);
                    const size_t expected = entry.nested->class_name == "Sequential" ? 1 : entry.nested->inputs.size();
                    if (args.size() == expected + 1 && has_mask_operand(arg_specs)) args.pop_back();
                    outs = expand_model(*entry.nested, args);
                } else {
                    Layer * layer = layer_of_.at(&entry);
                    if (layer->accepts_constant_operands()) {
                        args.clear();
                        for (const Operand & op : call.operands)
                            args.push_back(op.is_tensor ? *lookup(op, false) : add_constant(op.constant, layer->context()));
                    }
                    outs = add_node(layer, args);
                }
                for (size_t t = 0; t < outs.size(); ++t) produced[{entry.name, static_cast<int64_t>(k), static_cast<int64_t>(t)}] = outs[t];
                done.insert({&entry, k});
            }
        }
        if (done.size() == before) {
            // Name the first call that cannot run and the tensor it waits for.
            for (const LayerEntry & entry : model.layers)
                for (size_t k = 0; k < entry.calls.size(); ++k) {
                    if (entry.class_name == "InputLayer" || done.count({&entry, k})) continue;
                    for (const Operand & op : entry.calls[k].operands)
                        if (op.is_tensor && !lookup(op, false))
                            fail("model '", model.name, "': call ", k, " of layer '", entry.name, "' needs output ",
                                 op.tensor, " of call ", op.node, " of layer '", op.layer,
                                 "', which no call produces (missing node index or a cycle)");
                }
            fail("model '", model.name, "': the layer graph cannot be ordered");
        }
    }

    std::vector<int> outputs;
    for (const Operand & ref : model.outputs) {
        const int * v = lookup(ref, true);
        KRUN_CHECK(v, "model '", model.name, "': output_layers names output ", ref.tensor, " of call ", ref.node,
                   " of layer '", ref.layer, "', which does not exist");
        outputs.push_back(*v);
    }
    return outputs;
}

}  // namespace krun
