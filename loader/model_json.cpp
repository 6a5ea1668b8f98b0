#include "loader/model_json.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>

namespace krun {

namespace {

bool is_model_class(const std::string & c) { return c == "Sequential" || c == "Functional" || c == "Model"; }

std::string text_or(const Json & j, const char * key, const std::string & fallback) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

// "float32", or a (DType)Policy object {"class_name": ..., "config": {"name": "mixed_float16"}}.
DType parse_dtype(const Json & value) {
    std::string name = "float32";
    if (value.is_string()) name = value.get<std::string>();
    else if (value.is_object() && value.contains("config")) name = text_or(value["config"], "name", name);
    const bool integer = name.rfind("int", 0) == 0 || name.rfind("uint", 0) == 0 || name == "bool";
    return integer ? DType::Int32 : DType::Float32;
}

class Parser {
public:
    explicit Parser(std::string file) : file_(std::move(file)) {}

    // Input shape of a layer config: batch_input_shape (Keras 2), batch_shape (Keras 3),
    // batchInputShape (TF.js spelling), or input_shape without the batch dimension.
    bool read_input_spec(const Json & cfg, Spec & spec) const {
        const Json * shape = nullptr;
        bool add_batch = false;
        for (const char * key : {"batch_input_shape", "batch_shape", "batchInputShape"})
            if (!shape && cfg.is_object() && cfg.contains(key) && cfg[key].is_array()) shape = &cfg[key];
        if (!shape && cfg.is_object() && cfg.contains("input_shape") && cfg["input_shape"].is_array()) {
            shape = &cfg["input_shape"];
            add_batch = true;
        }
        if (!shape) return false;
        spec.shape.clear();
        if (add_batch) spec.shape.push_back(-1);
        for (const Json & d : *shape) {
            KRUN_CHECK(d.is_null() || (d.is_number_integer() && d.get<int64_t>() > 0 && d.get<int64_t>() < (int64_t(1) << 31)),
                       file_, ": layer '", text_or(cfg, "name", "?"), "': input shape ", shape->dump(),
                       " should hold positive integers or null");
            spec.shape.push_back(d.is_null() ? -1 : d.get<int64_t>());
        }
        spec.dtype = cfg.contains("dtype") ? parse_dtype(cfg["dtype"]) : DType::Float32;
        return true;
    }

    ModelDesc parse_model(const Json & entry, int depth) {
        KRUN_CHECK(depth < 64, file_, ": models nested more than 64 deep");
        ModelDesc m;
        m.class_name = text_or(entry, "class_name", "");
        const Json & cfg = entry.contains("config") ? entry["config"] : entry;
        const Json * layers = cfg.is_array() ? &cfg : (cfg.is_object() && cfg.contains("layers") ? &cfg["layers"] : nullptr);
        m.name = cfg.is_object() ? text_or(cfg, "name", text_or(entry, "name", m.class_name)) : text_or(entry, "name", m.class_name);
        KRUN_CHECK(layers && layers->is_array(), file_, ": model '", m.name, "' (", m.class_name, ") has no 'layers' list");
        std::set<std::string> names;
        for (const Json & layer : *layers) {
            m.layers.push_back(parse_layer(layer, m, depth));
            KRUN_CHECK(names.insert(m.layers.back().name).second, file_, ": model '", m.name, "': two layers are named '",
                       m.layers.back().name, "'");
        }

        if (m.class_name == "Sequential") {
            m.first_layer_is_input = !m.layers.empty() && m.layers[0].class_name == "InputLayer";
            if (!m.layers.empty() && m.layers[0].nested) {
                m.has_input_spec = first_input_spec(*m.layers[0].nested, m.input_spec);
            } else if (!m.layers.empty() && m.layers[0].config) {
                m.has_input_spec = read_input_spec(*m.layers[0].config, m.input_spec);
            }
            if (!m.has_input_spec && cfg.is_object() && cfg.contains("build_input_shape") && cfg["build_input_shape"].is_array()) {
                Json shaped = {{"batch_input_shape", cfg["build_input_shape"]}};
                m.has_input_spec = read_input_spec(shaped, m.input_spec);
            }
        } else {
            KRUN_CHECK(cfg.is_object() && cfg.contains("input_layers") && cfg.contains("output_layers"), file_, ": model '",
                       m.name, "' (", m.class_name, ") needs input_layers and output_layers");
            m.inputs = parse_model_refs(cfg["input_layers"], m.name, "input_layers");
            m.outputs = parse_model_refs(cfg["output_layers"], m.name, "output_layers");
        }
        return m;
    }

private:
    // The input of a nested model used as the first layer of a Sequential.
    static bool first_input_spec(const ModelDesc & m, Spec & spec) {
        if (m.class_name == "Sequential") {
            if (m.has_input_spec) spec = m.input_spec;
            return m.has_input_spec;
        }
        for (const LayerEntry & e : m.layers)
            if (!m.inputs.empty() && e.name == m.inputs[0].layer && e.class_name == "InputLayer") {
                spec = e.input_spec;
                return true;
            }
        return false;
    }

    LayerEntry parse_layer(const Json & entry, ModelDesc & model, int depth) {
        KRUN_CHECK(entry.is_object() && entry.contains("class_name") && entry["class_name"].is_string(), file_, ": model '",
                   model.name, "': a layer entry has no class_name: ", entry.dump().substr(0, 200));
        LayerEntry e;
        e.class_name = entry["class_name"].get<std::string>();
        static const Json empty = Json::object();
        e.config = entry.contains("config") && entry["config"].is_object() ? &entry["config"] : &empty;
        e.name = text_or(entry, "name", text_or(*e.config, "name", ""));
        KRUN_CHECK(!e.name.empty(), file_, ": model '", model.name, "': a ", e.class_name, " layer has no name");
        if (is_model_class(e.class_name)) e.nested = std::make_unique<ModelDesc>(parse_model(entry, depth + 1));
        if (e.class_name == "InputLayer") read_input_spec(*e.config, e.input_spec);
        if (entry.contains("inbound_nodes")) {
            const Json & nodes = entry["inbound_nodes"];
            KRUN_CHECK(nodes.is_array(), file_, ": layer '", e.name, "': inbound_nodes should be a list");
            for (const Json & node : nodes) {
                if (node.is_object()) model.list_refs = false;
                e.calls.push_back(node.is_object() ? parse_dict_node(node, e) : parse_list_node(node, e));
            }
        }
        // Keras 3 operation nodes (keras.ops.*): their config has a name and the op's arguments,
        // never the `trainable` flag every Layer config has.
        e.is_operation = !model.list_refs && !e.nested && !e.config->contains("trainable") && e.class_name != "InputLayer";
        return e;
    }

    // Keras 2 / TF.js: node = [ref, ...] or a bare ref; ref = [layer, node, tensor, kwargs?].
    NodeDesc parse_list_node(const Json & node, const LayerEntry & layer) {
        KRUN_CHECK(node.is_array(), file_, ": layer '", layer.name, "': inbound node should be a list or an object, found ",
                   node.dump().substr(0, 200));
        NodeDesc n;
        const bool bare = !node.empty() && node[0].is_string();
        const Json wrapped = bare ? Json::array({node}) : Json();
        for (const Json & ref : bare ? wrapped : node) {
            KRUN_CHECK(ref.is_array() && ref.size() >= 3 && ref[0].is_string(), file_, ": layer '", layer.name,
                       "': bad inbound reference ", ref.dump().substr(0, 200), " (expected [layer, node, tensor, kwargs])");
            if (ref[0] == "_CONSTANT_VALUE") {
                Operand c;
                c.constant = ref[2];
                n.operands.push_back(c);
            } else {
                n.operands.push_back(list_ref(ref, layer));
            }
            if (ref.size() >= 4 && ref[3].is_object()) n.kwargs = ref[3];
        }
        append_tensor_kwargs(n, layer, [&](const Json & v) {
            // One reference [layer, node, tensor] or a list of them.
            const bool single = v.is_array() && !v.empty() && v[0].is_string();
            for (const Json & ref : single ? Json::array({v}) : v) {
                KRUN_CHECK(ref.is_array() && ref.size() >= 3 && ref[0].is_string(), file_, ": layer '", layer.name,
                           "': keyword tensor argument should be [layer, node, tensor], found ", ref.dump().substr(0, 200));
                n.operands.push_back(list_ref(ref, layer));
            }
        });
        // TFOpLambda keeps its second operand in kwargs `y`: a reference or a constant.
        if (layer.class_name == "TFOpLambda" && n.kwargs.contains("y")) {
            const Json & y = n.kwargs["y"];
            if (y.is_array() && y.size() >= 3 && y[0].is_string()) {
                n.operands.push_back(list_ref(y, layer));
            } else {
                Operand c;
                c.constant = y;
                n.operands.push_back(c);
            }
            n.kwargs.erase("y");
        }
        return n;
    }

    Operand list_ref(const Json & ref, const LayerEntry & layer) const {
        KRUN_CHECK(ref[1].is_number_integer() && ref[2].is_number_integer() && ref[1].get<int64_t>() >= 0 &&
                       ref[2].get<int64_t>() >= 0,
                   file_, ": layer '", layer.name, "': bad inbound reference ", ref.dump().substr(0, 200));
        Operand o;
        o.is_tensor = true;
        o.layer = ref[0].get<std::string>();
        o.node = ref[1].get<int64_t>();
        o.tensor = ref[2].get<int64_t>();
        return o;
    }

    // Keras 3: {"args": [...], "kwargs": {...}} with tensors as __keras_tensor__ objects.
    NodeDesc parse_dict_node(const Json & node, const LayerEntry & layer) {
        NodeDesc n;
        if (node.contains("args")) collect_operands(node["args"], n, layer);
        if (node.contains("kwargs") && node["kwargs"].is_object()) n.kwargs = node["kwargs"];
        append_tensor_kwargs(n, layer, [&](const Json & v) { collect_operands(v, n, layer); });
        return n;
    }

    // Tensors passed by keyword (an RNN's initial_state and mask) follow the positional operands:
    // states first, mask last. `add` appends the operands found in one kwarg value.
    template <class Add>
    static void append_tensor_kwargs(NodeDesc & n, const LayerEntry & layer, Add add) {
        for (const char * key : {"initial_state", "mask"}) {
            if (!n.kwargs.contains(key) || n.kwargs[key].is_null()) continue;
            const Json value = n.kwargs[key];
            n.kwargs.erase(key);
            if (value.is_boolean()) continue;  // `mask=True`-style flags are not tensors
            add(value);
        }
    }

    static bool holds_tensor(const Json & v) {
        if (v.is_object()) return v.contains("class_name") && v["class_name"] == "__keras_tensor__";
        if (v.is_array())
            for (const Json & e : v)
                if (holds_tensor(e)) return true;
        return false;
    }

    void collect_operands(const Json & v, NodeDesc & n, const LayerEntry & layer) {
        if (v.is_array() && holds_tensor(v)) {
            for (const Json & e : v) collect_operands(e, n, layer);
            return;
        }
        if (v.is_object() && v.contains("class_name") && v["class_name"] == "__keras_tensor__") {
            const Json & h = v.contains("config") && v["config"].contains("keras_history") ? v["config"]["keras_history"] : Json();
            KRUN_CHECK(h.is_array() && h.size() == 3 && h[0].is_string(), file_, ": layer '", layer.name,
                       "': keras tensor without a valid keras_history: ", v.dump().substr(0, 200));
            n.operands.push_back(list_ref(h, layer));
            return;
        }
        Operand c;
        // {"class_name": "__numpy__" / "__tensor__", "config": {"value": ...}} constants.
        c.constant = v.is_object() && v.contains("config") && v["config"].is_object() && v["config"].contains("value")
                         ? v["config"]["value"]
                         : v;
        n.operands.push_back(c);
    }

    // input_layers / output_layers: a list of [name, node, tensor] triples, one bare triple
    // (Keras 3, single tensor), or a dict of triples (Keras 3 dict-structured inputs).
    std::vector<Operand> parse_model_refs(const Json & v, const std::string & model, const char * key) {
        std::vector<Operand> refs;
        auto is_triple = [](const Json & t) { return t.is_array() && t.size() == 3 && t[0].is_string(); };
        std::vector<const Json *> triples;
        if (is_triple(v)) triples.push_back(&v);
        else if (v.is_array() || v.is_object())
            for (const Json & t : v) triples.push_back(&t);
        for (const Json * t : triples) {
            KRUN_CHECK(is_triple(*t), file_, ": model '", model, "': ", key, " entry ", t->dump().substr(0, 200),
                       " should be [layer, node, tensor]");
            LayerEntry dummy;
            dummy.name = model;
            refs.push_back(list_ref(*t, dummy));
        }
        KRUN_CHECK(!refs.empty(), file_, ": model '", model, "': ", key, " is empty");
        return refs;
    }

    std::string file_;
};

// Keras 3 markers where keras_version is missing (format-spec 1.12).
bool looks_like_keras3(const Json & v) {
    if (v.is_object()) {
        if (v.contains("batch_shape") || v.contains("keras_history") || v.contains("args")) return true;
        if (v.contains("class_name") && v["class_name"] == "DTypePolicy") return true;
        for (const auto & [k, e] : v.items())
            if (looks_like_keras3(e)) return true;
    } else if (v.is_array()) {
        for (const Json & e : v)
            if (looks_like_keras3(e)) return true;
    }
    return false;
}

// The deepest nesting of arrays and objects in JSON `text` (strings skipped). Checked before
// parsing: nlohmann's dump() and the recursive walks here would overflow the stack on a file
// nested thousands deep, while real models stay below ~300 (64 nested models).
int json_depth(const std::string & text) {
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

constexpr int kMaxJsonDepth = 512;

}  // namespace

ModelFile read_model_json(const std::string & path) {
    ModelFile f;
    f.path = path;
    f.folder = std::filesystem::path(path).parent_path().string();
    if (f.folder.empty()) f.folder = ".";
    std::ifstream in(path, std::ios::binary);
    KRUN_CHECK(in, path, ": cannot open file");
    std::ostringstream text;
    text << in.rdbuf();
    const int depth = json_depth(text.str());
    KRUN_CHECK(depth <= kMaxJsonDepth, path, ": JSON nested deeper than ", kMaxJsonDepth, " levels (", depth, ")");
    try {
        f.document = Json::parse(text.str());
    } catch (const nlohmann::json::parse_error & e) {
        fail(path, ": invalid JSON: ", e.what());
    }
    const Json & doc = f.document;
    KRUN_CHECK(doc.is_object(), path, ": top level should be a JSON object");
    const std::string format = text_or(doc, "format", "layers-model");
    KRUN_CHECK(format == "layers-model", path, ": format '", format,
               "' is not supported; krun reads TF.js layers models (format \"layers-model\")");
    KRUN_CHECK(doc.contains("modelTopology") && doc["modelTopology"].is_object(), path, ": no modelTopology object");
    const Json & topology = doc["modelTopology"];
    KRUN_CHECK(!topology.contains("node"), path, ": modelTopology is a TF graph (graph model); krun reads layers models");
    const Json & model = topology.contains("model_config") ? topology["model_config"] : topology;
    KRUN_CHECK(model.is_object() && model.contains("class_name") && model["class_name"].is_string(), path,
               ": modelTopology has no model_config or class_name");
    const std::string top_class = model["class_name"].get<std::string>();
    KRUN_CHECK(is_model_class(top_class), path, ": top-level class '", top_class,
               "' is not a model (expected Sequential, Functional or Model)");

    const std::string keras_version = text_or(topology, "keras_version", text_or(model, "keras_version", ""));
    if (keras_version.rfind("3.", 0) == 0) f.keras = KerasVersion::Keras3;
    else if (keras_version.empty()) f.keras = looks_like_keras3(model) ? KerasVersion::Keras3 : KerasVersion::Keras2;
    f.producer = cat(keras_version.empty() ? (f.keras == KerasVersion::Keras3 ? "keras 3 (inferred)" : "keras 2 (inferred)")
                                           : (keras_version.rfind("tfjs", 0) == 0 ? keras_version : "keras " + keras_version),
                     doc.contains("convertedBy") && doc["convertedBy"].is_string() ? ", " + doc["convertedBy"].get<std::string>() : "");
    f.top = Parser(path).parse_model(model, 0);
    return f;
}

}  // namespace krun
