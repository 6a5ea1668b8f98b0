// krun::Model: model.json -> ModelDesc -> layers -> weights bound -> graph expanded.
#include <omp.h>

#include <iomanip>
#include <sstream>

#include "loader/load_model.h"
#include "loader/model_json.h"
#include "loader/weights.h"

namespace krun {

std::shared_ptr<Graph> load_graph(const std::string & model_json_path, const Options & options) {
    ModelFile file = read_model_json(model_json_path);
    // Every message names the file: layer errors are prefixed with its path here.
    auto in_file = [&](auto && step) {
        try {
            step();
        } catch (const Error & e) {
            const std::string what = e.what();
            if (what.rfind(file.path, 0) == 0) throw;
            fail(file.path, ": ", what);
        }
    };
    std::shared_ptr<Graph> graph;
    in_file([&] { graph = std::make_shared<Graph>(file.top, file.keras); });
    graph->options = options;
    graph->producer = file.producer;
    {
        // Gone once bound: the layers hold the only copies, which packing then replaces.
        std::vector<ManifestWeight> weights =
            read_weights(file.document.contains("weightsManifest") ? file.document["weightsManifest"] : Json(),
                         file.folder, file.path);
        graph->binding_report = bind_weights(*graph, weights, file.path);
    }
    in_file([&] {
        for (LayerRecord & r : graph->layers()) r.layer->prepare();
        graph->expand(file.top);
        graph->finalize();
    });
    return graph;
}

Model Model::load(const std::string & model_json_path, const Options & options) {
    Model model;
    model.graph_ = load_graph(model_json_path, options);
    return model;
}

std::vector<Tensor> Model::run(const std::vector<Tensor> & inputs) const {
    KRUN_CHECK(graph_, "Model::run on a model that was not loaded");
    // The thread count is an OpenMP setting of the calling thread only (other threads running
    // models keep theirs), and only for this call: the caller's setting is restored on return.
    struct ThreadCount {
        const int previous = omp_get_max_threads();
        const bool set;
        explicit ThreadCount(int threads) : set(threads > 0) { if (set) omp_set_num_threads(threads); }
        ~ThreadCount() { if (set) omp_set_num_threads(previous); }
    } thread_count(graph_->options.threads);
    return graph_->run(inputs);
}

const std::vector<TensorInfo> & Model::inputs() const { return graph_->inputs(); }
const std::vector<TensorInfo> & Model::outputs() const { return graph_->outputs(); }
std::string Model::producer() const { return graph_->producer; }

std::string Model::summary() const {
    const Graph & g = *graph_;
    std::ostringstream out;
    out << "Producer: " << g.producer << "\n";
    out << std::left << std::setw(40) << "Layer (type)" << std::setw(28) << "Output Shape" << "Param #\n";
    out << std::string(80, '=') << "\n";
    for (const TensorInfo & in : g.inputs())
        out << std::setw(40) << (in.name + " (InputLayer)") << std::setw(28) << shape_string(in.shape) << "0\n";
    int64_t total = 0;
    const Layer * previous = nullptr;
    for (const Graph::Node & node : g.layer_calls()) {
        std::string shapes;
        for (int v : node.outputs) shapes += (shapes.empty() ? "" : " ") + shape_string(g.value_spec(v).shape);
        // A shared layer's later calls show no parameters: they are counted once.
        const bool first_call = node.layer != previous && std::find_if(g.layer_calls().data(), &node, [&](const Graph::Node & n) {
                                                               return n.layer == node.layer;
                                                           }) == &node;
        const int64_t params = first_call ? node.layer->parameter_count() : 0;
        total += params;
        out << std::setw(40) << (node.layer->name() + " (" + node.layer->class_name() + ")") << std::setw(28) << shapes
            << params << "\n";
        previous = node.layer;
    }
    out << std::string(80, '=') << "\nTotal params: " << total << "\n";
    const Graph::Fusions & f = g.fusions();
    out << "Fused for the fast kernels: " << f.batch_norms << " BatchNormalization/Rescaling folded, " << f.activations
        << " activations, " << f.residual_adds << " residual adds, " << f.paddings << " paddings, "
        << f.expand_depthwise << " expansions computed with their depthwise convolution, " << f.input_affines
        << " input scalings folded (" << g.layer_calls().size() - g.nodes().size() << " of "
        << g.layer_calls().size() << " layer calls)\n";
    // The activation arena of run() for one sample (batch 1), when the other dimensions are known.
    std::vector<std::vector<int64_t>> shapes;
    for (const TensorInfo & in : g.inputs()) {
        shapes.push_back(in.shape);
        if (!shapes.back().empty() && shapes.back()[0] < 0) shapes.back()[0] = 1;
    }
    const int64_t arena = g.arena_bytes(shapes);
    out << "Peak activation memory (batch 1): " << (arena < 0 ? "depends on the input shapes" : std::to_string(arena) + " bytes")
        << "\n";
    out << "\nWeight binding:\n" << g.binding_report;
    return out.str();
}

}  // namespace krun
