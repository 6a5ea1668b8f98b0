// krun command line: run a TF.js layers model on .npy inputs, print or save its outputs, compare
// them with expected outputs, time it. `krun check` and `krun inspect` (tools/check.h,
// tools/inspect.h) diagnose parity and weight problems. Exit codes: 0 ok, 1 parity mismatch,
// 2 usage/model/input error (one line on stderr starting "krun: error: ").
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "krun/krun.h"
#include "loader/npy.h"
#include "tools/check.h"
#include "tools/cli.h"
#include "tools/inspect.h"
#include "tools/parity.h"

using namespace krun;

namespace {

const char * const kUsage =
    "usage: krun MODEL.json [INPUT.npy ...] [options]\n"
    "       krun check MODEL.json REFDIR [options]   (krun check --help)\n"
    "       krun inspect MODEL.json [options]        (krun inspect --help)\n"
    "\n"
    "Runs a Keras model converted to the TensorFlow.js layers format on .npy inputs (one per\n"
    "model input, in model input order). Without inputs, prints the model's inputs and outputs.\n"
    "\n"
    "options:\n"
    "  -o PATH          write output k (k-th -o, in output order) as a float32 .npy file;\n"
    "                   without -o, print each output's shape, min/max/mean and, for 2-D\n"
    "                   outputs, the top-5 classes of each row\n"
    "  --expect PATH    compare output k (k-th --expect) with PATH; exit 1 on a mismatch\n"
    "  --atol X         absolute tolerance for --expect (default 1e-4)\n"
    "  --rtol X         relative tolerance for --expect (default 1e-3); an element passes when\n"
    "                   |got - expected| <= atol + rtol * |expected|\n"
    "  --labels PATH    .npy of true class indices, shown beside each row's top-5\n"
    "  --summary        print the layer table and the weight binding report\n"
    "  --threads N      worker threads (default: all cores)\n"
    "  --ref            use the scalar reference kernels\n"
    "  --bench N        time N runs after one warm-up; print median and min in ms, and the\n"
    "                   model's load time\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 ok, 1 outputs differ from --expect, 2 usage, model or input error\n";

struct Args {
    std::string model;
    std::vector<std::string> inputs, write_paths, expect_paths;
    std::string labels;
    double atol = 1e-4, rtol = 1e-3;
    bool summary = false, help = false;
    krun::Options options;
    int bench_runs = 0;
};

Args parse_args(int argc, char ** argv) {
    Args a;
    std::vector<std::string> positional;
    parse_command_line(
        argc, argv, 1, [&](const std::string & arg) { positional.push_back(arg); },
        [&](const std::string & arg, OptionValue & v) {
            if (arg == "-h" || arg == "--help") v.none(), a.help = true;
            else if (arg == "--summary") v.none(), a.summary = true;
            else if (arg == "--ref") v.none(), a.options.reference_kernels = true;
            else if (arg == "-o") a.write_paths.push_back(v.value());
            else if (arg == "--expect") a.expect_paths.push_back(v.value());
            else if (arg == "--labels") a.labels = v.value();
            else if (arg == "--atol") a.atol = parse_number(arg, v.value());
            else if (arg == "--rtol") a.rtol = parse_number(arg, v.value());
            else if (arg == "--threads") a.options.threads = parse_count(arg, v.value(), 1);
            else if (arg == "--bench") a.bench_runs = parse_count(arg, v.value(), 1);
            else throw UsageError("unknown option '" + arg + "' (see krun --help)");
        });
    if (a.help) return a;
    if (positional.empty()) throw UsageError("no model given (usage: krun MODEL.json [INPUT.npy ...] [options])");
    if (a.atol < 0 || a.rtol < 0) throw UsageError("--atol and --rtol must not be negative");
    a.model = positional[0];
    a.inputs.assign(positional.begin() + 1, positional.end());
    const bool needs_run = !a.write_paths.empty() || !a.expect_paths.empty() || !a.labels.empty() || a.bench_runs;
    if (a.inputs.empty() && needs_run)
        throw UsageError("-o, --expect, --labels and --bench need input files (krun MODEL.json INPUT.npy ...)");
    return a;
}

krun::Tensor as_float32(const krun::Tensor & t) {
    if (t.dtype() == krun::DType::Float32) return t;
    krun::Tensor f(t.shape());
    for (int64_t i = 0; i < t.size(); ++i) f.data()[i] = static_cast<float>(t.data_i32()[i]);
    return f;
}

// "[1, 3]" multi-index of flat index `i` in `shape`.
std::string index_string(const std::vector<int64_t> & shape, int64_t i) {
    std::vector<int64_t> index(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        index[d] = shape[d] ? i % shape[d] : 0;
        i = shape[d] ? i / shape[d] : 0;
    }
    return krun::shape_string(index);
}

void print_inputs_outputs(const krun::Model & model) {
    std::cout << "Producer: " << model.producer() << "\n";
    for (const krun::TensorInfo & in : model.inputs())
        std::cout << "input  '" << in.name << "' " << krun::shape_string(in.shape) << " " << krun::dtype_name(in.dtype) << "\n";
    for (const krun::TensorInfo & out : model.outputs())
        std::cout << "output '" << out.name << "' " << krun::shape_string(out.shape) << " " << krun::dtype_name(out.dtype)
                  << "\n";
}

// Shape, min/max/mean, and for a 2-D output the top-5 classes of each row (with the true label
// when `labels` is given).
void print_output(const std::string & name, const krun::Tensor & t, const krun::Tensor * labels) {
    std::cout << "output '" << name << "' " << krun::shape_string(t.shape());
    if (t.size() > 0) {
        double lo = krun::element_value(t, 0), hi = lo, sum = 0;
        for (int64_t i = 0; i < t.size(); ++i) {
            const double v = krun::element_value(t, i);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
        }
        std::cout << std::setprecision(6) << ": min " << lo << " max " << hi << " mean " << sum / t.size();
    }
    std::cout << "\n";
    if (t.rank() != 2) return;
    const int64_t rows = t.dim(0), cols = t.dim(1);
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<int64_t> order(cols);
        for (int64_t c = 0; c < cols; ++c) order[c] = c;
        const int64_t top = std::min<int64_t>(5, cols);
        std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int64_t a, int64_t b) {
            return krun::element_value(t, r * cols + a) > krun::element_value(t, r * cols + b);
        });
        std::cout << "  row " << r << " top-" << top << ":";
        for (int64_t k = 0; k < top; ++k)
            std::cout << " " << order[k] << " (" << std::setprecision(4) << krun::element_value(t, r * cols + order[k]) << ")";
        if (labels && r < labels->size()) std::cout << "   label " << krun::element_value(*labels, r);
        std::cout << "\n";
    }
}

// Compares one output with its expected array; prints one line; true when within tolerance.
bool compare_output(const std::string & name, const krun::Tensor & got, const krun::Tensor & expected,
                    const std::string & expected_path, double atol, double rtol) {
    std::cout << "expect '" << name << "' (" << expected_path << "): ";
    const krun::Parity p = krun::compare_parity(got, expected, atol, rtol);
    if (!p.shape_ok) {
        std::cout << "MISMATCH: shape " << krun::shape_string(got.shape()) << ", expected "
                  << krun::shape_string(expected.shape()) << "\n";
        return false;
    }
    std::cout << std::setprecision(3) << "max abs err " << p.max_abs << ", max rel err " << p.max_rel;
    if (p.ok()) {
        std::cout << ": ok\n";
        return true;
    }
    std::cout << std::setprecision(9) << ": MISMATCH: " << p.failures << " of " << got.size()
              << " elements outside atol " << atol << " + rtol " << rtol << " * |expected|; worst at "
              << index_string(got.shape(), p.worst) << ": got " << p.worst_got << ", expected " << p.worst_expected << "\n";
    return false;
}

void run_bench(const krun::Model & model, const std::vector<krun::Tensor> & inputs, int runs, double load_ms) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto start = std::chrono::steady_clock::now();
        model.run(inputs);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
    // 0.1 us resolution: small models run in a few microseconds.
    std::cout << std::fixed << std::setprecision(4) << "bench: " << runs << " runs, median " << median << " ms, min "
              << ms[0] << " ms\nload: " << load_ms << " ms (read, parse, bind, fuse, pack)\n"
              << std::defaultfloat;
}

int run(const Args & a) {
    const auto load_start = std::chrono::steady_clock::now();
    const krun::Model model = krun::Model::load(a.model, a.options);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
    if (a.summary) std::cout << model.summary();
    if (a.inputs.empty()) {
        print_inputs_outputs(model);
        return 0;
    }
    const size_t output_count = model.outputs().size();
    if (a.write_paths.size() > output_count || a.expect_paths.size() > output_count)
        throw UsageError("the model has " + std::to_string(output_count) + " output(s), but " +
                         std::to_string(std::max(a.write_paths.size(), a.expect_paths.size())) +
                         (a.write_paths.size() > output_count ? " -o paths" : " --expect paths") + " were given");
    if (a.inputs.size() != model.inputs().size())
        throw UsageError("the model has " + std::to_string(model.inputs().size()) + " input(s), but " +
                         std::to_string(a.inputs.size()) + " input file(s) were given");

    // Read everything before running, so a bad file is reported before any output.
    std::vector<krun::Tensor> inputs, expected;
    for (const std::string & path : a.inputs) inputs.push_back(krun::read_npy(path));
    for (const std::string & path : a.expect_paths) expected.push_back(krun::read_npy(path));
    krun::Tensor labels;
    if (!a.labels.empty()) labels = krun::read_npy(a.labels);

    const std::vector<krun::Tensor> outputs = model.run(inputs);
    for (size_t k = 0; k < a.write_paths.size(); ++k) krun::write_npy(a.write_paths[k], as_float32(outputs[k]));
    if (a.write_paths.empty())
        for (size_t k = 0; k < outputs.size(); ++k)
            print_output(model.outputs()[k].name, outputs[k], a.labels.empty() ? nullptr : &labels);
    bool parity = true;
    for (size_t k = 0; k < expected.size(); ++k)
        parity &= compare_output(model.outputs()[k].name, outputs[k], expected[k], a.expect_paths[k], a.atol, a.rtol);
    if (a.bench_runs) run_bench(model, inputs, a.bench_runs, load_ms);  // the run above was the warm-up
    return parity ? 0 : 1;
}

}  // namespace

int main(int argc, char ** argv) {
    try {
        const std::string command = argc > 1 ? argv[1] : "";
        if (command == "check") return check_main(argc, argv);
        if (command == "inspect") return inspect_main(argc, argv);
        const Args args = parse_args(argc, argv);
        if (args.help) {
            std::cout << kUsage;
            return 0;
        }
        return run(args);
    } catch (const std::exception & e) {
        // krun::Error, UsageError, and anything else (e.g. std::bad_alloc) end the same way.
        std::cout.flush();
        std::string message = e.what();
        std::replace(message.begin(), message.end(), '\n', ' ');
        std::cerr << "krun: error: " << message << "\n";
        return 2;
    }
}
