#include "tools/inspect.h"

#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "loader/model_json.h"
#include "loader/weights.h"
#include "tools/cli.h"

namespace krun {

namespace {

const char * const kInspectUsage =
    "usage: krun inspect MODEL.json\n"
    "\n"
    "Without running the model: the weights every layer expects (names and shapes from its\n"
    "config, in Keras creation order) against the weightsManifest, layer by layer: which manifest\n"
    "entry each weight is bound to (shape, stored dtype, quantization), parameters per layer and\n"
    "in total, the producer (keras_version, generatedBy, convertedBy) and the file's dialect\n"
    "(Keras 2 list or Keras 3 dict inbound nodes, h5 scope, bare or .keras path weight names,\n"
    "converter or TF.js-saved topology).\n"
    "\n"
    "Problems (all of them are listed): manifest weights that match no layer weight (unused),\n"
    "layer weights not in the manifest (missing), weights of the wrong shape (found by inferring\n"
    "each layer's output shape in execution order, e.g. a GRU bias [3u] where reset_after needs\n"
    "[2, 3u]; the layers after the first layer that fails are 'not checked').\n"
    "A weight name that appears several times in the manifest is a warning, not a problem, when\n"
    "every copy is bound: krun resolves duplicates by manifest order, as the converter wrote the\n"
    "layers (check the model with krun check against a reference to be sure).\n"
    "\n"
    "options:\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 consistent (warnings allowed), 1 problems found, 2 usage error or a file\n"
    "that cannot be read at all (invalid JSON, unsupported layer, bad shard)\n";

// The first Functional model description, depth first (the one that shows the node dialect).
const ModelDesc * first_functional(const ModelDesc & m) {
    if (m.class_name != "Sequential") return &m;
    for (const LayerEntry & e : m.layers)
        if (e.nested)
            if (const ModelDesc * f = first_functional(*e.nested)) return f;
    return nullptr;
}

std::string text_field(const Json & doc, const char * key) {
    return doc.contains(key) && doc[key].is_string() ? doc[key].get<std::string>() : "";
}

std::string dialect(const ModelFile & file, const std::vector<ManifestWeight> & weights) {
    std::string nodes;
    if (const ModelDesc * f = first_functional(file.top))
        nodes = f->list_refs ? "Keras 2 inbound nodes (lists)" : "Keras 3 inbound nodes (dicts)";
    else
        nodes = "Sequential only (no inbound nodes)";
    int keras_paths = 0, bare = 0;
    for (const ManifestWeight & w : weights) {
        keras_paths += w.name.rfind("layers/", 0) == 0 || w.name.rfind("_layer_checkpoint_dependencies/", 0) == 0;
        bare += w.name.find('/') == std::string::npos;
    }
    const std::string names = keras_paths ? ".keras path weight names (layers/<class>/vars/<i>)"
                              : bare      ? "bare weight names (Keras 3.0-3.2 h5)"
                                          : "h5 scope weight names (<layer>/<weight>)";
    const Json & topology = file.document["modelTopology"];
    const bool tfjs_saved = text_field(file.document, "generatedBy").find("TensorFlow.js") != std::string::npos;
    const std::string origin = tfjs_saved                          ? "saved by TF.js (model.save)"
                               : topology.contains("model_config") ? "converter topology (model_config)"
                                                                   : "bare topology (no model_config)";
    return cat(file.keras == KerasVersion::Keras3 ? "Keras 3" : "Keras 2", "; ", nodes, "; ", names, "; ", origin);
}

std::string describe_stored(const ManifestWeight & w) {
    if (w.stored_dtype == "float16") return "float16 (quantized: half precision)";
    if (w.quantized) return w.stored_dtype + " (quantized: affine scale/min)";
    return w.stored_dtype;
}

}  // namespace

int inspect_main(int argc, char ** argv) {
    std::string model_path;
    bool help = false;
    parse_command_line(
        argc, argv, 2,
        [&](const std::string & arg) {
            if (!model_path.empty()) throw UsageError("usage: krun inspect MODEL.json");
            model_path = arg;
        },
        [&](const std::string & arg, OptionValue & v) {
            if (arg == "-h" || arg == "--help") v.none(), help = true;
            else throw UsageError("unknown option '" + arg + "' (see krun inspect --help)");
        });
    if (help) {
        std::cout << kInspectUsage;
        return 0;
    }
    if (model_path.empty()) throw UsageError("usage: krun inspect MODEL.json");

    ModelFile file = read_model_json(model_path);
    Graph graph(file.top, file.keras);
    std::vector<ManifestWeight> weights = read_weights(
        file.document.contains("weightsManifest") ? file.document["weightsManifest"] : Json(), file.folder, file.path);
    const BindResult bound = bind_weights_collect(graph, weights);

    std::vector<std::string> problems, warnings;
    std::map<const Layer *, std::string> status;  // layer -> "" (ok), "problem" or "not checked"
    for (const ManifestWeight * w : bound.unused)
        problems.push_back(cat("unused: manifest weight '", w->name, "' ", shape_string(w->value.shape()), " (", w->where,
                               ") matches no layer weight"));
    for (const auto & [record, slot] : bound.missing) {
        const WeightSlot & s = record->layer->weight_slots()[slot];
        problems.push_back(cat("missing: ", record->layer->context(), " expects weight '", s.name, "'",
                               s.scope_hint.empty() ? "" : " [" + s.scope_hint + "]", ", which is not in the manifest"));
        status[record->layer.get()] = "problem";
    }
    for (const auto & [name, count] : bound.duplicates) {
        std::string targets;
        for (const LayerRecord & r : graph.layers())
            for (const WeightSlot & s : r.layer->weight_slots())
                if (s.source == name) targets += (targets.empty() ? "" : ", ") + r.layer->name() + "/" + s.name;
        warnings.push_back(cat("duplicated: manifest weight name '", name, "' appears ", count,
                               " times; resolved by manifest order: ", targets));
    }

    // Shapes: prepare every complete layer, then infer the layers in execution order (Graph::expand).
    bool prepared = bound.missing.empty();
    for (LayerRecord & r : graph.layers()) {
        if (status.count(r.layer.get())) continue;
        try {
            r.layer->prepare();
        } catch (const Error & e) {
            problems.push_back(cat("weights: ", e.what()));
            status[r.layer.get()] = "problem";
            prepared = false;
        }
    }
    if (prepared) {
        try {
            graph.expand(file.top);
        } catch (const Error & e) {
            // The nodes added before the failure passed; the failing layer is the one its message names.
            std::set<const Layer *> checked;
            for (const Graph::Node & n : graph.nodes()) checked.insert(n.layer);
            const std::string what = e.what();
            for (const LayerRecord & r : graph.layers())
                if (!checked.count(r.layer.get()))
                    status[r.layer.get()] = what.rfind(r.layer->context(), 0) == 0 ? "problem" : "not checked";
            problems.push_back(cat("shape: ", what));
        }
    } else {
        for (const LayerRecord & r : graph.layers())
            if (!status.count(r.layer.get())) status[r.layer.get()] = "not checked";
    }

    std::cout << "krun inspect " << model_path << "\n";
    std::cout << "producer: " << file.producer;
    const std::string generated = text_field(file.document, "generatedBy"), converted = text_field(file.document, "convertedBy");
    if (!generated.empty()) std::cout << " (generatedBy: " << generated << (converted.empty() ? "" : ", convertedBy: " + converted) << ")";
    std::cout << "\ndialect: " << dialect(file, weights) << "\n";
    std::cout << std::left << std::setw(40) << "layer (class)" << std::setw(10) << "params" << "weights\n";
    int64_t total = 0, quantized = 0;
    for (const ManifestWeight & w : weights) quantized += w.quantized;
    std::map<std::string, const ManifestWeight *> by_source;
    for (const ManifestWeight & w : weights) by_source.emplace(w.name, &w);
    for (const LayerRecord & r : graph.layers()) {
        const Layer & layer = *r.layer;
        total += layer.parameter_count();
        std::string list;
        for (const WeightSlot & s : layer.weight_slots()) {
            list += (list.empty() ? "" : "; ") + s.name + (s.scope_hint.empty() ? "" : "[" + s.scope_hint + "]") + " <- ";
            if (!s.bound()) {
                list += "MISSING";
                continue;
            }
            auto w = by_source.find(s.source);
            list += s.source + " " + shape_string(s.value.shape()) +
                    (w == by_source.end() ? "" : " " + describe_stored(*w->second));
        }
        const std::string state = status.count(&layer) ? status.at(&layer) : "ok";
        std::cout << std::setw(40) << (layer.name() + " (" + layer.class_name() + ")") << std::setw(10) << layer.parameter_count()
                  << (list.empty() ? "-" : list) << (state == "ok" ? "" : "   [" + state + "]") << "\n";
    }
    std::cout << "total parameters: " << total << " (" << weights.size() << " manifest weights, " << quantized
              << " quantized)\n";
    for (const std::string & w : warnings) std::cout << "warning: " << w << "\n";
    for (const std::string & p : problems) std::cout << "problem: " << p << "\n";
    std::cout << (problems.empty() ? "consistent" : cat(problems.size(), " problem(s)")) << "\n";
    return problems.empty() ? 0 : 1;
}

}  // namespace krun
