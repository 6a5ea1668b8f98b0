// One loaded model run from 8 threads at once gives the results of a single run, bit for bit
// (Model::run is const and documented thread-safe); batches split over threads; the benching of
// the kernel threads. tools/sanitize.sh runs this under ThreadSanitizer.
#include <catch2/catch.hpp>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "kernels/fast/fast.h"
#include "loader/npy.h"
#include "support/helpers.h"

using namespace krun;
using namespace krun::test;

namespace {

bool same_bits(const std::vector<Tensor> & a, const std::vector<Tensor> & b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i].shape() != b[i].shape() || a[i].dtype() != b[i].dtype() || std::memcmp(a[i].data(), b[i].data(), a[i].size() * 4) != 0)
            return false;
    return true;
}

// Runs `model` on `inputs` from 8 threads at once, `runs` times each; true when every result
// equals the single-threaded one.
bool same_from_8_threads(const Model & model, const std::vector<Tensor> & inputs, int runs) {
    const std::vector<Tensor> expected = model.run(inputs);
    std::vector<char> ok(8, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            bool all = true;
            for (int r = 0; r < runs; ++r) all &= same_bits(model.run(inputs), expected);
            ok[t] = all;
        });
    for (std::thread & t : threads) t.join();
    return std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
}

}  // namespace

// Stateful layers (RNNs, masking), a CNN and shared layers: whatever a layer keeps between calls
// would show up as differing results.
TEST_CASE("concurrency: one model run from 8 threads at once gives identical results", "[concurrency]") {
    for (const char * name : {"tfk_digits_cnn", "tfk_rnn_lstm_simple", "tfk_rnn_masking", "k3_shared_layer", "tfk_bidirectional"}) {
        const fs::path folder = fs::path(KRUN_MODELS_DIR) / name;
        if (!fs::exists(folder / "model.json")) {
            WARN("skipped: " << folder.string() << " is absent");
            continue;
        }
        for (bool reference : {false, true}) {
            INFO(name << (reference ? " (reference kernels)" : " (fast kernels)"));
            Options options;
            options.threads = 1;  // threads of our own; OpenMP teams are not what is tested here
            options.reference_kernels = reference;
            const Model model = Model::load((folder / "model.json").string(), options);
            std::vector<Tensor> inputs;
            for (size_t i = 0; i < model.inputs().size(); ++i)
                inputs.push_back(read_npy((folder / ("input_" + std::to_string(i) + ".npy")).string()));
            CHECK(same_from_8_threads(model, inputs, 3));
        }
    }
}

// The activation arenas (runtime/run.cpp) are planned per input shape and pooled: threads running
// different batch sizes at once, each alternating between them, take and give back states of both
// shapes; a state shared by two runs would show up as differing results.
TEST_CASE("concurrency: runs with different input shapes at once give identical results", "[concurrency]") {
    const fs::path folder = fs::path(KRUN_MODELS_DIR) / "tfk_digits_cnn";
    Options options;
    options.threads = 1;
    const Model model = Model::load((folder / "model.json").string(), options);
    const Tensor input = read_npy((folder / "input_0.npy").string());
    // Batches of 1 and 3 made of the samples of the fixture input.
    auto batch_of = [&](int64_t n) {
        std::vector<int64_t> shape = input.shape();
        const int64_t sample = input.size() / shape[0];
        shape[0] = n;
        Tensor t(shape);
        for (int64_t i = 0; i < n; ++i) std::memcpy(t.data() + i * sample, input.data() + (i % input.dim(0)) * sample, sample * 4);
        return t;
    };
    const std::vector<std::vector<Tensor>> inputs = {{batch_of(1)}, {batch_of(3)}};
    const std::vector<std::vector<Tensor>> expected = {model.run(inputs[0]), model.run(inputs[1])};
    std::vector<char> ok(8, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            bool all = true;
            for (int r = 0; r < 6; ++r) {
                const size_t which = static_cast<size_t>((t + r) % 2);
                all &= same_bits(model.run(inputs[which]), expected[which]);
            }
            ok[t] = all;
        });
    for (std::thread & t : threads) t.join();
    CHECK(std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; }));
}

// A batch whose samples the graph computes alone runs them side by side on the OpenMP threads
// (runtime/run.cpp), each thread on its own arena: every sample must come out as when it is run
// by itself.
TEST_CASE("concurrency: a batch run sample by sample on several threads gives each sample's result", "[concurrency]") {
    const fs::path folder = fs::path(KRUN_MODELS_DIR) / "tfk_digits_cnn";
    Options options;
    options.threads = 3;
    const Model model = Model::load((folder / "model.json").string(), options);
    const Tensor input = read_npy((folder / "input_0.npy").string());
    const int64_t batch = input.dim(0), per_sample = input.size() / batch;
    REQUIRE(batch >= 2);
    const std::vector<Tensor> together = model.run({input});
    options.threads = 1;
    const Model alone = Model::load((folder / "model.json").string(), options);
    for (int64_t s = 0; s < batch; ++s) {
        std::vector<int64_t> shape = input.shape();
        shape[0] = 1;
        Tensor one(shape);
        std::memcpy(one.data(), input.data() + s * per_sample, per_sample * 4);
        const Tensor expected = alone.run({one})[0];
        INFO("sample " << s);
        CHECK(std::memcmp(together[0].data() + s * expected.size(), expected.data(), expected.size() * 4) == 0);
    }
}

// TeamBench (kernels/fast/fast.h) on made-up times: when another program keeps a core from one of
// the kernel threads, kernel calls run on one thread for a while, longer each time it happens
// again, and try the team again after.
TEST_CASE("concurrency: a parallel region that waited milliseconds for a thread benches the team for a while",
          "[concurrency]") {
    using fast::TeamBench;
    TeamBench bench;
    int64_t now = int64_t{1} << 40;
    bench.note_region(TeamBench::kStragglerWaitNs - 1, now);  // a region on a busy but fair machine
    CHECK_FALSE(bench.flagged());
    CHECK_FALSE(bench.benched(now));
    bench.note_region(TeamBench::kStragglerWaitNs, now);
    REQUIRE(bench.flagged());
    CHECK(bench.benched(now + TeamBench::kFirstBenchNs - 1));
    CHECK_FALSE(bench.benched(now + TeamBench::kFirstBenchNs));
    CHECK_FALSE(bench.flagged());
    now += TeamBench::kFirstBenchNs;  // the try waits again: twice as long
    bench.note_region(TeamBench::kStragglerWaitNs, now);
    CHECK(bench.benched(now + 2 * TeamBench::kFirstBenchNs - 1));
    CHECK_FALSE(bench.benched(now + 2 * TeamBench::kFirstBenchNs));
    now += 2 * TeamBench::kFirstBenchNs;  // the try does not wait: the next bench is short again
    bench.note_region(0, now);
    bench.note_region(TeamBench::kStragglerWaitNs, now);
    CHECK_FALSE(bench.benched(now + TeamBench::kFirstBenchNs));
    for (int i = 0; i < 40; ++i) bench.note_region(TeamBench::kStragglerWaitNs, now);  // at most the longest
    CHECK(bench.benched(now + TeamBench::kLongestBenchNs - 1));
    CHECK_FALSE(bench.benched(now + TeamBench::kLongestBenchNs));
    bench.enabled = false;
    bench.note_region(TeamBench::kStragglerWaitNs, now);
    CHECK_FALSE(bench.benched(now));
}

// The kernels ask the process's TeamBench (disabled in the other tests: tests/main.cpp).
TEST_CASE("concurrency: kernel calls get one thread while the team is benched", "[concurrency]") {
    const int threads_before = omp_get_max_threads();
    omp_set_num_threads(2);
    fast::TeamBench & bench = fast::team_bench();
    bench.enabled = true;
    CHECK(fast::team_threads(2) == 2);
    fast::note_region_end(fast::now_ns() - 2 * fast::TeamBench::kStragglerWaitNs, 0);  // thread 0 waited 2 ms
    CHECK(fast::team_threads(2) == 1);
    bench.enabled = false;
    CHECK(fast::team_threads(2) == 2);
    omp_set_num_threads(threads_before);
}
