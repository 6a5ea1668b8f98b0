// End-to-end latency of every fixture under models/ (its bundled inputs), at 1 and 2 threads.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "krun/krun.h"
#include "loader/npy.h"

namespace {

namespace fs = std::filesystem;

void run_model(benchmark::State & state, const std::string & folder) {
    krun::Options options;
    options.threads = static_cast<int>(state.range(0));
    const krun::Model model = krun::Model::load(folder + "/model.json", options);
    std::vector<krun::Tensor> inputs;
    for (int i = 0; fs::exists(folder + "/input_" + std::to_string(i) + ".npy"); ++i)
        inputs.push_back(krun::read_npy(folder + "/input_" + std::to_string(i) + ".npy"));
    for (auto _ : state) benchmark::DoNotOptimize(model.run(inputs));
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
