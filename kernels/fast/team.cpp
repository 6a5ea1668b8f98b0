#include <omp.h>

#include <algorithm>
#include <chrono>

#include "kernels/fast/fast.h"

namespace krun::fast {

bool TeamBench::benched(int64_t now_ns) {
    if (!enabled.load(std::memory_order_relaxed) || now_ns >= until_ns_.load(std::memory_order_relaxed)) {
        flag_.store(false, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void TeamBench::note_region(int64_t waited_ns, int64_t now_ns) {
    const int64_t length = length_ns_.load(std::memory_order_relaxed);
    if (waited_ns < kStragglerWaitNs || !enabled.load(std::memory_order_relaxed)) {
        if (length != kFirstBenchNs) length_ns_.store(kFirstBenchNs, std::memory_order_relaxed);
        return;
    }
    until_ns_.store(now_ns + length, std::memory_order_relaxed);
    length_ns_.store(std::min(2 * length, kLongestBenchNs), std::memory_order_relaxed);
    flag_.store(true, std::memory_order_relaxed);
}

TeamBench & team_bench() {
    static TeamBench bench;
    return bench;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int team_threads(int64_t useful) {
    TeamBench & bench = team_bench();
    if (bench.flagged() && bench.benched(now_ns())) return 1;
    const int64_t available = std::min(omp_get_max_threads(), kMaxThreads);
    return static_cast<int>(std::max<int64_t>(1, std::min(available, useful)));
}

void note_region_end(int64_t start_ns, int64_t part_ns) {
    const int64_t end_ns = now_ns();
    team_bench().note_region(end_ns - start_ns - part_ns, end_ns);
}

}  // namespace krun::fast
