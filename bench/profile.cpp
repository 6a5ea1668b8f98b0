// krun_profile MODEL.json INPUT.npy... [--threads N] [--runs N] [--ref]: where the time of one
// inference goes. Runs the model N times (after a warm-up) and prints every executed layer call
// with its median time, share of the total, and output shape, slowest first, then the time per
// layer class.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <omp.h>

#include "loader/load_model.h"
#include "loader/npy.h"

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char ** argv) {
    try {
        std::vector<std::string> positional;
        krun::Options options;
        int runs = 50;
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--threads" && i + 1 < argc) options.threads = std::stoi(argv[++i]);
            else if (arg == "--runs" && i + 1 < argc) runs = std::max(1, std::stoi(argv[++i]));
            else if (arg == "--ref") options.reference_kernels = true;
            else positional.push_back(arg);
        }
        if (positional.size() < 2) {
            std::cerr << "usage: krun_profile MODEL.json INPUT.npy... [--threads N] [--runs N] [--ref]\n";
            return 2;
        }
        if (options.threads > 0) omp_set_num_threads(options.threads);  // what Model::run does per call
        const std::shared_ptr<krun::Graph> graph = krun::load_graph(positional[0], options);
        std::vector<krun::Tensor> inputs;
        for (size_t i = 1; i < positional.size(); ++i) inputs.push_back(krun::read_npy(positional[i]));

        const size_t nodes = graph->nodes().size();
        std::vector<std::vector<double>> node_ms(nodes);
        std::vector<std::string> shapes(nodes);
        std::vector<double> total_ms;
        for (int r = -1; r < runs; ++r) {  // run -1 is the warm-up (plans the arena)
            auto last = std::chrono::steady_clock::now();
            const auto start = last;
            graph->run(inputs, [&](size_t n, const std::vector<krun::Tensor> & outs) {
                const auto now = std::chrono::steady_clock::now();
                if (r >= 0) node_ms[n].push_back(std::chrono::duration<double, std::milli>(now - last).count());
                else shapes[n] = krun::shape_string(outs.at(0).shape());
                last = now;
            });
            if (r >= 0) total_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        }

        const double total = median(total_ms);
        std::vector<std::pair<double, size_t>> order;
        std::map<std::string, double> per_class;
        for (size_t n = 0; n < nodes; ++n) {
            const double ms = median(node_ms[n]);
            order.push_back({ms, n});
            per_class[graph->nodes()[n].layer->class_name()] += ms;
        }
        std::sort(order.rbegin(), order.rend());
        std::cout << std::fixed << std::setprecision(3) << "median total " << total << " ms over " << runs
                  << " runs\n\n     ms      %  layer\n";
        for (const auto & [ms, n] : order) {
            const krun::Layer & layer = *graph->nodes()[n].layer;
            std::cout << std::setw(7) << ms << std::setw(7) << std::setprecision(1) << 100 * ms / total
                      << std::setprecision(3) << "  " << layer.name() << " (" << layer.class_name() << ") -> "
                      << shapes[n] << "\n";
        }
        std::vector<std::pair<double, std::string>> classes;
        for (const auto & [name, ms] : per_class) classes.push_back({ms, name});
        std::sort(classes.rbegin(), classes.rend());
        std::cout << "\n     ms      %  class\n";
        for (const auto & [ms, name] : classes)
            std::cout << std::setw(7) << ms << std::setw(7) << std::setprecision(1) << 100 * ms / total
                      << std::setprecision(3) << "  " << name << "\n";
        return 0;
    } catch (const std::exception & e) {
        std::cerr << "krun_profile: error: " << e.what() << "\n";
        return 2;
    }
}
