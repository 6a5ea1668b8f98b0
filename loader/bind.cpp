// Weight binding by name (format-spec 2.5-2.7), never by manifest position alone:
//  1. `.keras` files: `layers/<snake class>[_k]/.../vars/<i>` keys computed from the config;
//  2. h5 names `<scopes>/<layer name>/<cell scopes>/<weight>`: the layer name matched exactly,
//     after a model scope (Keras 3 Sequential), before a cell scope (RNN cells, Bidirectional),
//     or with TF1's `_1` suffix;
//  3. bare names (Keras 3.0-3.2 h5: "kernel"): the converter wrote layer groups in sorted name
//     order, so the k-th bare "kernel" goes to the k-th layer (by name) that needs a kernel.
#include <algorithm>
#include <map>
#include <sstream>

#include "loader/weights.h"

namespace krun {

namespace {

struct Target {
    LayerRecord * record = nullptr;
    size_t slot = 0;
};

std::vector<std::string> split(const std::string & s) {
    std::vector<std::string> parts;
    std::string cur;
    for (char c : s) {
        if (c == '/') { parts.push_back(cur); cur.clear(); }
        else cur += c;
    }
    parts.push_back(cur);
    return parts;
}

bool starts_with(const std::string & s, const std::string & prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// How well layer `layer` of model `model` explains scope path `scope` (lower is better; -1: not
// at all). `rest` receives the components after the layer name (cell scopes).
int scope_score(const std::string & scope, const std::string & layer, const std::string & model, std::string & rest) {
    rest.clear();
    if (scope == layer) return 0;
    if (scope.find(layer) == std::string::npos) return -1;  // every rule below names the layer
    // Keras 3 Sequential builds its layers inside the model's name scope: `sequential/dense`.
    if (scope == model + "/" + layer || (scope.size() > model.size() + layer.size() + 1 &&
                                         scope.compare(scope.size() - layer.size() - model.size() - 2, std::string::npos,
                                                       "/" + model + "/" + layer) == 0))
        return 1;
    if (starts_with(scope, layer + "/")) {
        rest = scope.substr(layer.size() + 1);
        return 2;
    }
    const size_t inner = scope.find("/" + model + "/" + layer + "/");
    if (starts_with(scope, model + "/" + layer + "/") || inner != std::string::npos) {
        rest = scope.substr(scope.find(model + "/" + layer + "/") + model.size() + layer.size() + 2);
        return 3;
    }
    // TF1 graph-mode artefact: variables of layer `conv2d_10` named `conv2d_10_1/...`.
    const bool numbered = starts_with(scope, layer + "_") && scope.size() > layer.size() + 1 &&
                          std::all_of(scope.begin() + layer.size() + 1, scope.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
    return numbered ? 4 : -1;
}

// True when the cell scopes `rest` agree with the slot's hint: a Bidirectional direction
// ("forward" matches `forward_lstm`) or an exact sub-layer / cell name.
bool hint_matches(const std::string & rest, const std::string & hint) {
    if (hint.empty()) return true;
    const bool direction = hint == "forward" || hint == "backward";
    for (const std::string & part : split(rest))
        if (part == hint || (direction && starts_with(part, hint + "_"))) return true;
    return false;
}

}  // namespace

BindResult bind_weights_collect(Graph & graph, std::vector<ManifestWeight> & weights) {
    BindResult result;
    std::ostringstream notes;
    std::map<std::string, int> name_counts;
    for (const ManifestWeight & w : weights) ++name_counts[w.name];
    for (const auto & [name, count] : name_counts)
        if (count > 1) {
            result.duplicates[name] = count;
            notes << "note: weight name '" << name << "' appears " << count << " times in the manifest; bound in manifest order\n";
        }

    std::map<std::string, Target> keras_keys;
    for (LayerRecord & r : graph.layers())
        for (size_t s = 0; s < r.layer->weight_slots().size(); ++s) {
            const std::string & path = r.layer->weight_slots()[s].keras_path;
            if (!r.keras_path.empty()) keras_keys[r.keras_path + path] = {&r, s};
            keras_keys[r.legacy_path + path] = {&r, s};
        }

    auto bind = [&](ManifestWeight & w, const Target & t) {
        WeightSlot & slot = t.record->layer->weight_slots()[t.slot];
        slot.value = w.value;
        slot.source = w.name;
    };

    std::vector<ManifestWeight *> unmatched;
    for (ManifestWeight & w : weights) {
        auto key = keras_keys.find(w.name);
        if (key != keras_keys.end() && !key->second.record->layer->weight_slots()[key->second.slot].bound()) {
            bind(w, key->second);
            continue;
        }
        const size_t cut = w.name.rfind('/');
        if (cut == std::string::npos) {
            unmatched.push_back(&w);
            continue;
        }
        const std::string scope = w.name.substr(0, cut), short_name = w.name.substr(cut + 1);
        Target best;
        int best_score = 99;
        for (LayerRecord & r : graph.layers()) {
            std::string rest;
            const int score = scope_score(scope, r.layer->name(), r.model_name, rest);
            if (score < 0 || score >= best_score) continue;
            const std::vector<WeightSlot> & slots = r.layer->weight_slots();
            for (size_t s = 0; s < slots.size(); ++s)
                if (slots[s].name == short_name && !slots[s].bound() && hint_matches(rest, slots[s].scope_hint)) {
                    best = {&r, s};
                    best_score = score;
                    break;
                }
        }
        if (best.record) bind(w, best);
        else unmatched.push_back(&w);
    }

    // Bare names: layer groups were written in sorted layer-name order.
    std::vector<LayerRecord *> by_name;
    for (LayerRecord & r : graph.layers()) by_name.push_back(&r);
    std::stable_sort(by_name.begin(), by_name.end(),
                     [](const LayerRecord * a, const LayerRecord * b) { return a->layer->name() < b->layer->name(); });
    std::vector<ManifestWeight *> left;
    for (ManifestWeight * w : unmatched) {
        bool done = false;
        if (w->name.find('/') == std::string::npos)
            for (LayerRecord * r : by_name) {
                std::vector<WeightSlot> & slots = r->layer->weight_slots();
                for (size_t s = 0; s < slots.size() && !done; ++s)
                    if (slots[s].name == w->name && !slots[s].bound()) {
                        bind(*w, {r, s});
                        notes << "note: bare weight name '" << w->name << "' (" << w->where << ") bound to layer '"
                              << r->layer->name() << "' by sorted layer order\n";
                        done = true;
                    }
                if (done) break;
            }
        if (!done) left.push_back(w);
    }
    result.unused.assign(left.begin(), left.end());
    for (LayerRecord & r : graph.layers())
        for (size_t s = 0; s < r.layer->weight_slots().size(); ++s)
            if (!r.layer->weight_slots()[s].bound()) result.missing.push_back({&r, s});

    std::ostringstream report;
    for (const LayerRecord & r : graph.layers()) {
        if (r.layer->weight_slots().empty()) continue;
        report << "  " << r.layer->name() << " (" << r.layer->class_name() << "):";
        for (const WeightSlot & s : r.layer->weight_slots())
            report << " " << s.name << (s.scope_hint.empty() ? "" : "[" + s.scope_hint + "]") << " <- "
                   << (s.bound() ? s.source + " " + shape_string(s.value.shape()) : std::string("MISSING")) << ";";
        report << "\n";
    }
    result.report = report.str() + notes.str();
    return result;
}

std::string bind_weights(Graph & graph, std::vector<ManifestWeight> & weights, const std::string & model_path) {
    const BindResult result = bind_weights_collect(graph, weights);
    const std::vector<const ManifestWeight *> & left = result.unused;
    if (!left.empty()) {
        std::string names;
        for (size_t i = 0; i < left.size() && i < 8; ++i) names += (i ? ", '" : "'") + left[i]->name + "'";
        if (left.size() > 8) names += cat(" and ", left.size() - 8, " more");
        std::string expected;
        for (const auto & [record, slot] : result.missing)
            expected += cat(expected.empty() ? "" : ", ", record->layer->name(), "/", record->layer->weight_slots()[slot].name);
        fail(model_path, ": ", left.size(), " manifest weight(s) match no layer weight: ", names,
             expected.empty() ? std::string(" (every layer weight is already bound)")
                              : cat("; layer weights still unbound: ", expected));
    }
    return result.report;
}

}  // namespace krun
