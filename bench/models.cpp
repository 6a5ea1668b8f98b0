// End-to-end latency of every fixture under models/ (its bundled inputs), at 1 and 2 threads,
// with the peak resident memory of the runs (counter peak_rss_MiB) next to the weights' size
// (weights_MiB, the shard files). Run one model per process for a peak of its own, e.g.
//   krun_bench --benchmark_filter='model/tfk_mobilenet_v2_035/1/'
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "krun/krun.h"
#include "loader/npy.h"

namespace {

namespace fs = std::filesystem;

constexpr double kMiB = 1024.0 * 1024.0;

// VmHWM of /proc/self/status in MiB (0 where /proc is missing).
double peak_rss_MiB() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
    return 0;
}

// Starts a new high-water mark at the current resident size: freed heap goes back to the system
// first, then Linux resets VmHWM on "5" written to clear_refs.
bool reset_peak_rss() {
    malloc_trim(0);
    std::ofstream clear_refs("/proc/self/clear_refs");
    clear_refs << "5";
    clear_refs.close();
    return static_cast<bool>(clear_refs);
}

double weights_MiB(const std::string & folder) {
    double bytes = 0;
    for (const fs::directory_entry & e : fs::directory_iterator(folder))
        if (e.path().extension() == ".bin") bytes += static_cast<double>(e.file_size());
    return bytes / kMiB;
}

void run_model(benchmark::State & state, const std::string & folder) {
    krun::Options options;
    options.threads = static_cast<int>(state.range(0));
    const krun::Model model = krun::Model::load(folder + "/model.json", options);
    std::vector<krun::Tensor> inputs;
    for (int i = 0; fs::exists(folder + "/input_" + std::to_string(i) + ".npy"); ++i)
        inputs.push_back(krun::read_npy(folder + "/input_" + std::to_string(i) + ".npy"));
    const bool measure_peak = reset_peak_rss();
    for (auto _ : state) benchmark::DoNotOptimize(model.run(inputs));
    if (measure_peak) state.counters["peak_rss_MiB"] = peak_rss_MiB();
    state.counters["weights_MiB"] = weights_MiB(folder);
}

// Registers one benchmark per fixture that has inputs (fixtures krun must refuse have none).
const bool registered = [] {
    if (!fs::is_directory(KRUN_MODELS_DIR)) return false;
    std::vector<std::string> folders;
    for (const fs::directory_entry & e : fs::directory_iterator(KRUN_MODELS_DIR))
        if (fs::exists(e.path() / "input_0.npy") && fs::exists(e.path() / "expected_0.npy")) folders.push_back(e.path().string());
    std::sort(folders.begin(), folders.end());
    for (const std::string & folder : folders)
        benchmark::RegisterBenchmark(("model/" + fs::path(folder).filename().string()).c_str(), run_model, folder)
            ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    return true;
}();

}  // namespace
