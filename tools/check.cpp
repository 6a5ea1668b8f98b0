#include "tools/check.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "loader/load_model.h"
#include "loader/npy.h"
#include "tools/cli.h"
#include "tools/diagnosis.h"
#include "tools/parity.h"

namespace krun {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char * const kCheckUsage =
    "usage: krun check MODEL.json REFDIR [options]\n"
    "\n"
    "Runs the model on REFDIR/input_<i>.npy and compares, in execution order, every layer\n"
    "call's outputs with REFDIR/layers/ (written by tools/make_reference.py: <layer>.npy is the\n"
    "first call, <layer>@<k>.npy call k, <layer>#<j>.npy output j; '/' in a name is '__'), then\n"
    "the model outputs with REFDIR/expected_<i>.npy. A folder without layers/ compares the\n"
    "outputs only. The model is loaded with the reference kernels and no load-time fusion\n"
    "(Options::reference_kernels), so every Keras layer is computed on its own.\n"
    "\n"
    "Prints a table (layer, class, shape, max abs / rel error, status) and the first layer out\n"
    "of tolerance whose inputs were within tolerance ('first divergence'). For it, each weight\n"
    "is compared with REFDIR/weights/<keras name>.npy (equal, transposed, GRU/LSTM gate blocks\n"
    "in another order, permuted, freshly initialised or different, with statistics); when its\n"
    "weights match, the usual semantic suspects of its class are listed and, for activations\n"
    "and BatchNormalization, recomputed with the alternatives.\n"
    "\n"
    "options:\n"
    "  --atol X         absolute tolerance (default 1e-4)\n"
    "  --rtol X         relative tolerance (default 1e-3); an element passes when\n"
    "                   |got - expected| <= atol + rtol * |expected| (as krun --expect)\n"
    "  --json FILE      also write the report as JSON\n"
    "  --plot FILE.svg  draw the max abs error of every compared layer along the depth\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 everything within tolerance, 1 a layer or output diverges (a shape\n"
    "different from the reference's counts as a divergence), 2 usage, model or file error\n";

struct CheckArgs {
    std::string model, refdir, json_path, plot_path;
    double atol = 1e-4, rtol = 1e-3;
    bool help = false;
};

CheckArgs parse_check_args(int argc, char ** argv) {
    CheckArgs a;
    std::vector<std::string> positional;
    parse_command_line(
        argc, argv, 2, [&](const std::string & arg) { positional.push_back(arg); },
        [&](const std::string & arg, OptionValue & v) {
            if (arg == "-h" || arg == "--help") v.none(), a.help = true;
            else if (arg == "--atol") a.atol = parse_number(arg, v.value());
            else if (arg == "--rtol") a.rtol = parse_number(arg, v.value());
            else if (arg == "--json") a.json_path = v.value();
            else if (arg == "--plot") a.plot_path = v.value();
            else throw UsageError("unknown option '" + arg + "' (see krun check --help)");
        });
    if (a.help) return a;
    if (positional.size() != 2) throw UsageError("usage: krun check MODEL.json REFDIR [options]");
    if (a.atol < 0 || a.rtol < 0) throw UsageError("--atol and --rtol must not be negative");
    a.model = positional[0];
    a.refdir = positional[1];
    return a;
}

std::string file_name(std::string name) {
    for (size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at + 2)) name.replace(at, 1, "__");
    return name;
}

enum class Status { Ok, Diverges, ShapeMismatch, NotInReference };

const char * status_text(Status s) {
    switch (s) {
        case Status::Ok: return "ok";
        case Status::Diverges: return "DIVERGES";
        case Status::ShapeMismatch: return "DIVERGES (shape)";
        case Status::NotInReference: return "not in reference";
    }
    return "";
}

bool diverged(Status s) { return s == Status::Diverges || s == Status::ShapeMismatch; }

// One layer call output of krun, against the reference file of the same name.
struct Row {
    size_t node = 0;     // index into Graph::nodes()
    size_t output = 0;   // output index of that call
    std::string name;    // reference stem in Keras form: "dense", "shared@1", "rnn#1"
    std::string class_name;
    Shape shape, reference_shape;
    Parity parity;
    Status status = Status::NotInReference;
    bool inputs_ok = true;  // no input of the call diverged
};

struct OutputRow {
    std::string name;
    Shape shape, reference_shape;
    Parity parity;
    Status status = Status::Ok;
};

json stats_json(const Stats & s) { return {{"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"max", s.max}}; }

struct Diagnosis {
    std::string layer, class_name;
    bool inputs_ok = true;
    std::vector<WeightFinding> weights;
    std::vector<std::string> suspects;
    std::vector<std::string> alternatives;  // recomputations and their errors
    std::vector<std::string> other_weights;  // weights of other layers that differ from the reference
    std::string summary;
};

// The reference folder's description (meta.json), if present: layer name -> (class, weights).
struct ReferenceMeta {
    std::map<std::string, std::string> class_of;
    std::map<std::string, std::vector<std::string>> weights_of;
};

ReferenceMeta read_meta(const fs::path & refdir) {
    ReferenceMeta m;
    const fs::path path = refdir / "meta.json";
    if (!fs::exists(path)) return m;
    std::ifstream in(path);
    json doc = json::parse(in, nullptr, false);
    KRUN_CHECK(!doc.is_discarded() && doc.is_object(), path.string(), ": not a JSON object");
    if (doc.contains("layers") && doc["layers"].is_array())
        for (const json & l : doc["layers"]) {
            if (!l.is_object() || !l.contains("name") || !l["name"].is_string()) continue;
            const std::string name = l["name"].get<std::string>();
            if (l.contains("class") && l["class"].is_string()) m.class_of[name] = l["class"].get<std::string>();
            if (l.contains("weights") && l["weights"].is_array())
                for (const json & w : l["weights"])
                    if (w.is_string()) m.weights_of[name].push_back(w.get<std::string>());
        }
    return m;
}

// The Keras name of weight slot `slot` of `layer`: the k-th reference weight of the layer whose
// last name component is the slot's name, for the k-th slot of that name (both lists are in Keras
// creation order); without meta.json, the manifest name krun bound.
std::string reference_weight_name(const Layer & layer, size_t slot, const ReferenceMeta & meta) {
    const std::vector<WeightSlot> & slots = layer.weight_slots();
    auto it = meta.weights_of.find(layer.name());
    if (it == meta.weights_of.end()) return slots[slot].source;
    size_t ordinal = 0;
    for (size_t s = 0; s < slot; ++s) ordinal += slots[s].name == slots[slot].name;
    for (const std::string & w : it->second) {
        const std::string last = w.substr(w.rfind('/') + 1);
        if (last == slots[slot].name && ordinal-- == 0) return w;
    }
    return "";
}

struct Report {
    std::vector<Row> rows;
    std::vector<OutputRow> outputs;
    std::vector<std::string> not_compared;  // reference files no krun call produced
    int first = -1;                         // index into rows
    Diagnosis diagnosis;
    int status = 0;
};

// Every weight of `layer` against REFDIR/weights/; `equal_values` receives the reference
// values of the equal ones (by slot name).
std::vector<WeightFinding> judge_layer_weights(const Layer & layer, const ReferenceMeta & meta, const fs::path & refdir,
                                               double atol, double rtol, std::map<std::string, Tensor> * equal_values) {
    std::vector<WeightFinding> findings;
    const std::vector<WeightSlot> & slots = layer.weight_slots();
    for (size_t s = 0; s < slots.size(); ++s) {
        WeightFinding f;
        f.slot = slots[s].name;
        f.source = slots[s].source;
        f.reference = reference_weight_name(layer, s, meta);
        const fs::path file = refdir / "weights" / (file_name(f.reference) + ".npy");
        if (f.reference.empty() || !fs::exists(file)) {
            f.verdict = "no reference";
            f.detail = "no weights/" + (f.reference.empty() ? slots[s].name : file_name(f.reference)) + ".npy in the reference folder";
            f.got = stats_of(slots[s].value);
        } else {
            const Tensor expected = read_npy(file.string());
            judge_weight(slots[s].value, expected, layer.class_name(), atol, rtol, f);
            if (f.verdict == "equal" && equal_values) (*equal_values)[f.slot] = expected;
        }
        findings.push_back(f);
    }
    return findings;
}

Diagnosis diagnose(const Graph & graph, const Row & row, const std::map<std::string, Tensor> & reference,
                   const std::map<int, const Tensor *> & value_reference, const ReferenceMeta & meta,
                   const fs::path & refdir, double atol, double rtol) {
    const Graph::Node & node = graph.nodes()[row.node];
    const Layer & layer = *node.layer;
    Diagnosis d;
    d.layer = row.name;
    d.class_name = row.class_name;
    d.inputs_ok = row.inputs_ok;
    Evidence evidence;
    d.weights = judge_layer_weights(layer, meta, refdir, atol, rtol, &evidence.weights);
    const std::vector<WeightSlot> & slots = layer.weight_slots();
    // Verdicts other than "equal" and "no reference": the weights differ.
    std::set<std::string> differences;
    bool all_equal = true;
    for (const WeightFinding & f : d.weights) {
        all_equal &= f.verdict == "equal";
        if (f.verdict != "equal" && f.verdict != "no reference") differences.insert(f.verdict);
    }
    // The other layers' weights that differ too (a converter problem rarely hits one layer only).
    for (const LayerRecord & r : graph.layers()) {
        if (r.layer.get() == &layer) continue;
        for (const WeightFinding & f : judge_layer_weights(*r.layer, meta, refdir, atol, rtol, nullptr))
            if (f.verdict != "equal" && f.verdict != "no reference")
                d.other_weights.push_back(cat(r.layer->name(), "/", f.slot, ": ", f.verdict,
                                              f.detail.empty() ? "" : " (" + f.detail + ")"));
    }
    if (!d.inputs_ok) {
        d.summary = "its inputs already diverged (no layer before it diverges on its own: compare the inputs)";
        return d;
    }
    if (!differences.empty()) {
        std::string list;
        for (const std::string & v : differences) list += (list.empty() ? "" : ", ") + v;
        d.summary = cat("its inputs are within tolerance and its weights differ from the reference's (", list, ")");
        if (differences.count("fresh initialisation"))
            d.summary += "; the weights look freshly initialised: the converted file holds initializer values, not the "
                         "trained ones (e.g. a .keras file converted with --input_format keras_saved_model)";
        return d;
    }
    d.suspects = suspects_for(layer.class_name());
    auto in_ref = node.inputs.empty() ? value_reference.end() : value_reference.find(node.inputs[0]);
    evidence.input = in_ref == value_reference.end() ? nullptr : in_ref->second;
    auto out_ref = reference.find(row.name);
    evidence.expected = out_ref == reference.end() ? nullptr : &out_ref->second;
    d.alternatives = recompute_alternatives(layer.class_name(), evidence, atol, rtol);
    d.summary = slots.empty() ? "its inputs are within tolerance and it has no weights: the computation itself differs"
                              : (all_equal ? "its inputs and weights match the reference: the computation itself differs"
                                           : "its inputs are within tolerance; its weights could not all be compared "
                                             "(no reference weights)");
    if (row.status == Status::ShapeMismatch)
        d.summary += cat("; its output shape ", shape_string(row.shape), " differs from the reference's ",
                         shape_string(row.reference_shape), " (a shape option read differently: padding, strides, "
                         "return_sequences, ...)");
    return d;
}

Report run_check(const CheckArgs & a) {
    const fs::path refdir(a.refdir);
    KRUN_CHECK(fs::is_directory(refdir), a.refdir, ": not a folder (expected a reference folder with input_0.npy)");
    std::vector<Tensor> inputs, expected;
    for (int i = 0; fs::exists(refdir / ("input_" + std::to_string(i) + ".npy")); ++i)
        inputs.push_back(read_npy((refdir / ("input_" + std::to_string(i) + ".npy")).string()));
    KRUN_CHECK(!inputs.empty(), a.refdir, ": no input_0.npy");
    for (int i = 0; fs::exists(refdir / ("expected_" + std::to_string(i) + ".npy")); ++i)
        expected.push_back(read_npy((refdir / ("expected_" + std::to_string(i) + ".npy")).string()));
    const ReferenceMeta meta = read_meta(refdir);

    Options options;
    options.reference_kernels = true;
    const std::shared_ptr<Graph> graph = load_graph(a.model, options);
    KRUN_CHECK(inputs.size() == graph->inputs().size(), a.refdir, ": has ", inputs.size(), " input file(s), the model takes ",
               graph->inputs().size());
    KRUN_CHECK(expected.size() <= graph->outputs().size(), a.refdir, ": has ", expected.size(),
               " expected_<i>.npy file(s), the model has ", graph->outputs().size(), " output(s)");

    // Layers of the model (hidden graph nodes such as mask combiners are not Keras layers).
    std::set<const Layer *> keras_layers;
    for (const LayerRecord & r : graph->layers()) keras_layers.insert(r.layer.get());
    std::set<std::string> reference_files;
    const fs::path layers_dir = refdir / "layers";
    if (fs::is_directory(layers_dir))
        for (const fs::directory_entry & e : fs::directory_iterator(layers_dir))
            if (e.path().extension() == ".npy") reference_files.insert(e.path().stem().string());

    Report report;
    std::map<std::string, Tensor> reference;            // stem -> reference tensor, for compared rows
    std::map<int, Tensor> observed;                     // value id -> krun's tensor
    std::map<int, const Tensor *> value_reference;      // value id -> best-known reference tensor
    std::map<const Layer *, int> calls;
    std::set<int> diverged_values;
    std::set<std::string> used_files;
    for (size_t i = 0; i < inputs.size(); ++i) value_reference[graph->input_values()[i]] = &inputs[i];
    const std::vector<Tensor> outputs = graph->run(inputs, [&](size_t n, const std::vector<Tensor> & outs) {
        if (reference_files.empty()) return;  // no layers/: the outputs only
        const Graph::Node & node = graph->nodes()[n];
        bool inputs_ok = true;
        for (int v : node.inputs) inputs_ok &= !diverged_values.count(v);
        if (!keras_layers.count(node.layer)) {
            if (!inputs_ok) diverged_values.insert(node.outputs.begin(), node.outputs.end());
            return;
        }
        const int call = calls[node.layer]++;
        for (size_t j = 0; j < outs.size(); ++j) {
            Row row;
            row.node = n;
            row.output = j;
            row.name = node.layer->name() + (call ? "@" + std::to_string(call) : "") + (j ? "#" + std::to_string(j) : "");
            row.class_name = node.layer->class_name();
            row.shape = outs[j].shape();
            row.inputs_ok = inputs_ok;
            const int value = node.outputs[j];
            observed[value] = outs[j].clone();  // outs live in the arena, reused later
            value_reference[value] = &observed[value];
            const std::string stem = file_name(row.name);
            if (reference_files.count(stem)) {
                used_files.insert(stem);
                Tensor ref = read_npy((layers_dir / (stem + ".npy")).string());
                row.reference_shape = ref.shape();
                row.parity = compare_parity(outs[j], ref, a.atol, a.rtol);
                row.status = !row.parity.shape_ok ? Status::ShapeMismatch : row.parity.ok() ? Status::Ok : Status::Diverges;
                reference[row.name] = ref;
                value_reference[value] = &reference[row.name];
            }
            if (diverged(row.status) || (row.status == Status::NotInReference && !inputs_ok)) diverged_values.insert(value);
            report.rows.push_back(row);
        }
    });
    for (const std::string & f : reference_files) {
        if (used_files.count(f)) continue;
        auto cls = meta.class_of.find(f.substr(0, f.find_first_of("@#")));
        report.not_compared.push_back(cls == meta.class_of.end() ? f : f + " (" + cls->second + ")");
    }

    bool ok = true;
    for (size_t i = 0; i < expected.size(); ++i) {
        OutputRow o;
        o.name = "expected_" + std::to_string(i) + " (" + graph->outputs()[i].name + ")";
        o.shape = outputs[i].shape();
        o.reference_shape = expected[i].shape();
        o.parity = compare_parity(outputs[i], expected[i], a.atol, a.rtol);
        o.status = !o.parity.shape_ok ? Status::ShapeMismatch : o.parity.ok() ? Status::Ok : Status::Diverges;
        ok &= o.status == Status::Ok;
        report.outputs.push_back(o);
    }
    for (size_t r = 0; r < report.rows.size(); ++r) {
        if (!diverged(report.rows[r].status)) continue;
        ok = false;
        // The first layer out of tolerance whose inputs were not: later ones may only inherit it.
        if (report.first < 0 && report.rows[r].inputs_ok) report.first = static_cast<int>(r);
    }
    if (report.first < 0)
        for (size_t r = 0; r < report.rows.size() && report.first < 0; ++r)
            if (diverged(report.rows[r].status)) report.first = static_cast<int>(r);
    if (report.first >= 0)
        report.diagnosis = diagnose(*graph, report.rows[report.first], reference, value_reference, meta, refdir, a.atol, a.rtol);
    report.status = ok ? 0 : 1;
    return report;
}

std::string error_cell(const Parity & p, Status s) {
    if (s == Status::NotInReference || s == Status::ShapeMismatch) return "-";
    return format(p.max_abs);
}

void print_report(const Report & r, const CheckArgs & a) {
    std::cout << "krun check " << a.model << " " << a.refdir << " (reference kernels; atol " << a.atol << ", rtol " << a.rtol
              << ")\n";
    if (r.rows.empty())
        std::cout << "no layers/ in the reference folder: outputs only\n";
    else
        std::cout << std::left << std::setw(5) << "#" << std::setw(32) << "layer" << std::setw(26) << "class" << std::setw(20)
                  << "shape" << std::setw(12) << "max abs" << std::setw(12) << "max rel" << "status\n";
    for (size_t i = 0; i < r.rows.size(); ++i) {
        const Row & row = r.rows[i];
        std::string status = status_text(row.status);
        if (row.status == Status::ShapeMismatch) status += ": reference shape " + shape_string(row.reference_shape);
        else if (diverged(row.status) && !row.inputs_ok) status += " (input diverged)";
        std::cout << std::setw(5) << i << std::setw(32) << row.name << std::setw(26) << row.class_name << std::setw(20)
                  << shape_string(row.shape) << std::setw(12) << error_cell(row.parity, row.status) << std::setw(12)
                  << (row.status == Status::Ok || row.status == Status::Diverges ? format(row.parity.max_rel) : "-") << status
                  << "\n";
    }
    if (!r.not_compared.empty()) {
        std::cout << "reference files without a krun layer call (inputs, nested models expanded inline):";
        for (const std::string & f : r.not_compared) std::cout << " " << f;
        std::cout << "\n";
    }
    for (const OutputRow & o : r.outputs) {
        std::cout << "output " << o.name << " " << shape_string(o.shape) << ": ";
        if (o.status == Status::ShapeMismatch) std::cout << "DIVERGES: shape differs from the reference's " << shape_string(o.reference_shape) << "\n";
        else std::cout << "max abs " << format(o.parity.max_abs) << ", max rel " << format(o.parity.max_rel) << ": " << status_text(o.status) << "\n";
    }
    if (r.first < 0) {
        std::cout << (r.status == 0 ? "everything within tolerance\n" : "the outputs diverge but no compared layer does\n");
        return;
    }
    const Diagnosis & d = r.diagnosis;
    std::cout << "first divergence: " << d.layer << "\n";
    std::cout << "  " << d.layer << " (" << d.class_name << "): " << d.summary << "\n";
    for (const WeightFinding & f : d.weights) {
        std::cout << "  weight " << f.slot << " (" << f.source << " vs reference " << (f.reference.empty() ? "-" : f.reference)
                  << "): " << f.verdict << (f.detail.empty() ? "" : "; " + f.detail) << "\n";
        if (f.verdict != "equal")
            std::cout << "    krun:      " << stats_text(f.got) << "\n"
                      << (f.verdict == "no reference" ? "" : "    reference: " + stats_text(f.expected) + "\n");
    }
    for (const std::string & s : d.suspects) std::cout << "  suspect: " << s << "\n";
    for (const std::string & s : d.alternatives) std::cout << "  recomputed: " << s << "\n";
    if (!d.other_weights.empty()) std::cout << "weights of other layers that differ from the reference:\n";
    for (const std::string & s : d.other_weights) std::cout << "  " << s << "\n";
}

json report_json(const Report & r, const CheckArgs & a) {
    json doc;
    doc["model"] = a.model;
    doc["reference"] = a.refdir;
    doc["atol"] = a.atol;
    doc["rtol"] = a.rtol;
    doc["kernels"] = "reference";
    doc["layers"] = json::array();
    for (size_t i = 0; i < r.rows.size(); ++i) {
        const Row & row = r.rows[i];
        json l = {{"index", i}, {"name", row.name}, {"output", row.output}, {"class", row.class_name}, {"shape", row.shape},
                  {"status", status_text(row.status)}, {"inputs_ok", row.inputs_ok}};
        if (row.status == Status::Ok || row.status == Status::Diverges) {
            l["max_abs"] = row.parity.max_abs;
            l["max_rel"] = row.parity.max_rel;
        }
        if (row.status != Status::NotInReference) l["reference_shape"] = row.reference_shape;
        doc["layers"].push_back(l);
    }
    doc["not_compared"] = r.not_compared;
    doc["outputs"] = json::array();
    for (const OutputRow & o : r.outputs) {
        json out = {{"name", o.name}, {"shape", o.shape}, {"reference_shape", o.reference_shape}, {"status", status_text(o.status)}};
        if (o.status != Status::ShapeMismatch) {
            out["max_abs"] = o.parity.max_abs;
            out["max_rel"] = o.parity.max_rel;
        }
        doc["outputs"].push_back(out);
    }
    doc["first_divergence"] = r.first < 0 ? json(nullptr) : json(r.diagnosis.layer);
    if (r.first >= 0) {
        const Diagnosis & d = r.diagnosis;
        json weights = json::array();
        for (const WeightFinding & f : d.weights)
            weights.push_back({{"slot", f.slot}, {"source", f.source}, {"reference", f.reference}, {"verdict", f.verdict},
                               {"detail", f.detail}, {"krun", stats_json(f.got)}, {"reference_stats", stats_json(f.expected)}});
        doc["diagnosis"] = {{"layer", d.layer},         {"class", d.class_name},   {"inputs_ok", d.inputs_ok},
                            {"summary", d.summary},     {"weights", weights},      {"suspects", d.suspects},
                            {"recomputed", d.alternatives}, {"other_weights", d.other_weights}};
    } else {
        doc["diagnosis"] = nullptr;
    }
    doc["exit_status"] = r.status;
    return doc;
}

std::string xml_escape(const std::string & s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else if (c == '"') out += "&quot;";
        else out += c;
    }
    return out;
}

// Max abs error of every compared layer (log scale) along the execution index, with the atol
// line and the first divergence marked.
std::string plot_svg(const Report & r, const CheckArgs & a) {
    const double width = 900, height = 360, left = 70, right = 20, top = 30, bottom = 50;
    const double floor_error = 1e-12;  // zero errors are drawn at the bottom
    std::vector<std::pair<size_t, double>> points;
    double lo = std::log10(std::max(a.atol, floor_error)), hi = lo;
    for (size_t i = 0; i < r.rows.size(); ++i) {
        const Row & row = r.rows[i];
        if (row.status != Status::Ok && row.status != Status::Diverges) continue;
        const double e = std::log10(std::max(row.parity.max_abs, floor_error));
        points.push_back({i, e});
        lo = std::min(lo, e);
        hi = std::max(hi, e);
    }
    lo = std::floor(lo);
    hi = std::ceil(hi) + (std::ceil(hi) == lo ? 1 : 0);
    const double n = std::max<double>(1, r.rows.size() - 1);
    auto x_of = [&](double i) { return left + (width - left - right) * i / n; };
    auto y_of = [&](double e) { return top + (height - top - bottom) * (hi - e) / (hi - lo); };
    std::ostringstream svg;
    svg << std::fixed << std::setprecision(1);
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
        << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    svg << "<title>" << xml_escape("krun check " + a.model) << "</title>\n";
    svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    for (double e = lo; e <= hi; ++e)
        svg << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << y_of(e) << "\" y2=\"" << y_of(e)
            << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y_of(e) + 4 << "\" text-anchor=\"end\">1e"
            << static_cast<int>(e) << "</text>\n";
    const double tol_y = y_of(std::log10(std::max(a.atol, floor_error)));
    svg << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << tol_y << "\" y2=\"" << tol_y
        << "\" stroke=\"orange\" stroke-dasharray=\"6,4\"/><text x=\"" << width - right << "\" y=\"" << tol_y - 4
        << "\" text-anchor=\"end\" fill=\"orange\">atol " << format(a.atol) << "</text>\n";
    svg << "<polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"1.5\" points=\"";
    for (const auto & [i, e] : points) svg << x_of(i) << "," << y_of(e) << " ";
    svg << "\"/>\n";
    for (const auto & [i, e] : points)
        svg << "<circle cx=\"" << x_of(i) << "\" cy=\"" << y_of(e) << "\" r=\"2\" fill=\"steelblue\"><title>"
            << xml_escape(r.rows[i].name) << "</title></circle>\n";
    if (r.first >= 0) {
        const Row & row = r.rows[r.first];
        const double e = row.status == Status::Diverges ? std::log10(std::max(row.parity.max_abs, floor_error)) : hi;
        svg << "<circle cx=\"" << x_of(r.first) << "\" cy=\"" << y_of(e) << "\" r=\"6\" fill=\"none\" stroke=\"red\" "
            << "stroke-width=\"2\"/><text x=\"" << x_of(r.first) + 8 << "\" y=\"" << y_of(e) - 8 << "\" fill=\"red\">"
            << "first divergence: " << xml_escape(row.name) << "</text>\n";
    }
    svg << "<text x=\"" << (left + width - right) / 2 << "\" y=\"" << height - 12
        << "\" text-anchor=\"middle\">layer call (execution order)</text>\n";
    svg << "<text x=\"14\" y=\"" << (top + height - bottom) / 2 << "\" transform=\"rotate(-90 14 " << (top + height - bottom) / 2
        << ")\" text-anchor=\"middle\">max abs error</text>\n";
    svg << "</svg>\n";
    return svg.str();
}

void write_text(const std::string & path, const std::string & text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    KRUN_CHECK(out.good(), path, ": cannot be written");
}

}  // namespace

int check_main(int argc, char ** argv) {
    const CheckArgs args = parse_check_args(argc, argv);
    if (args.help) {
        std::cout << kCheckUsage;
        return 0;
    }
    const Report report = run_check(args);
    print_report(report, args);
    if (!args.json_path.empty()) write_text(args.json_path, report_json(report, args).dump(1) + "\n");
    if (!args.plot_path.empty()) write_text(args.plot_path, plot_svg(report, args));
    return report.status;
}

}  // namespace krun
