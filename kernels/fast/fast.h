// The SIMD kernel tables: one per x86-64 architecture level, each compiled in its own file with
// that level's compiler flags (avx512.cpp, avx2.cpp, sse42.cpp from the template code in
// simd_kernels.h); dispatch.cpp picks the best one the CPU supports for kernels_fast().
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace krun::fast {

const Kernels & kernels_avx512();  // AVX-512 F/CD/BW/DQ/VL with FMA
const Kernels & kernels_avx2();    // AVX2 with FMA
const Kernels & kernels_sse42();   // SSE4.2

// Every compiled SIMD table this CPU can run, best first (empty on other processors). The
// environment variable KRUN_KERNELS set to one of their names (or "threaded reference") makes
// kernels_fast() return that table instead of the best one, e.g. to test a lower level.
std::vector<const Kernels *> supported_tables();

// Per-thread scratch memory of the SIMD kernels, grown on demand and kept for the next call.
// These live in dispatch.cpp, compiled for baseline x86-64: the standard-library code behind them
// must not be compiled with AVX-512 flags, where the linker could pick it for the whole program.
enum class Scratch { TailPanel, Rows, Zeros, Ring, PaddedRows, PadRun, Halo };
constexpr int kScratchSlots = static_cast<int>(Scratch::Halo) + 1;
float * scratch_floats(Scratch slot, int64_t n);
const float ** scratch_pointers(int64_t n);
// n zeros (the input of a convolution tap that falls in the padding).
inline const float * zeros(int64_t n) { return scratch_floats(Scratch::Zeros, n); }

// The most threads one kernel call uses (SharedUnits holds a share per thread).
constexpr int kMaxThreads = 64;

// When another program keeps a core busy, an OpenMP thread of ours can go without a CPU for a
// scheduler tick or more, and every parallel region waits for it (thread 0 waits at a region's
// start until the others are back from the one before, and at its end until they finish):
// MobileNetV2 at 2 threads, with one of 2 cores taken by a higher-priority process, ran in 288 ms
// where one thread takes 3.2, each region starting 8 ms late. A region in which thread 0 waited
// over 1 ms benches the team (on an idle machine regions wait microseconds; the few waits of
// milliseconds that an unloaded shared VM shows now and then cost a short bench each):
// kernel calls run on one thread for 2 ms, twice as long after each region that waits again (up
// to a second), and the first call after it tries the team again. Times are steady-clock
// nanoseconds. Defined in team.cpp, compiled for baseline x86-64 like the scratch memory above.
class TeamBench {
public:
    static constexpr int64_t kStragglerWaitNs = 1'000'000;
    static constexpr int64_t kFirstBenchNs = 2'000'000;
    static constexpr int64_t kLongestBenchNs = 1'000'000'000;
    // Whether benched() may be true (it is worth reading the clock for).
    bool flagged() const { return flag_.load(std::memory_order_relaxed); }
    // Whether the team is benched at now_ns.
    bool benched(int64_t now_ns);
    // After a parallel region ending at now_ns in which thread 0 waited waited_ns for the others.
    void note_region(int64_t waited_ns, int64_t now_ns);
    // Off: never benched (the tests, so that a kernel called at N threads runs N).
    std::atomic<bool> enabled{true};

private:
    std::atomic<bool> flag_{false};
    std::atomic<int64_t> until_ns_{0}, length_ns_{kFirstBenchNs};
};
TeamBench & team_bench();  // the process's
int64_t now_ns();
// The threads a kernel call worth `useful` threads gets: at most omp_get_max_threads() and
// kMaxThreads; 1 while the team is benched.
int team_threads(int64_t useful);
// What run_parallel calls after a region that started at start_ns, with the time thread 0 spent in
// its part.
void note_region_end(int64_t start_ns, int64_t part_ns);

// Work units [begin, end).
struct UnitRange {
    int64_t begin = 0, end = 0;
    bool empty() const { return begin >= end; }
};

// Work units shared out among threads, with stealing: thread t owns a share (an even one unless
// set_share says otherwise) and takes it front to back, up to `run` units at a time; a thread done
// with its own share takes single units from the back of the others' that have more than `keep`
// left (a unit costs a thief more where it shares inputs with its neighbours, as the rows of a
// ring do, and the owner finishes its last few sooner). Where a static split would leave every
// thread waiting for the slowest (one of a shared VM's vCPUs often runs slower for milliseconds),
// the others then finish its share; otherwise the schedule is the static one. Defined in
// shared_units.cpp, compiled for baseline x86-64 like the scratch memory above.
class SharedUnits {
public:
    // Shares of [0, units): units * t / threads to units * (t + 1) / threads.
    SharedUnits(int threads, int64_t units);
    // Makes thread t's share [begin, end) (before any take).
    void set_share(int t, int64_t begin, int64_t end);
    // Thread t's next units, empty when none are left.
    UnitRange take(int t, int64_t run, int64_t keep = 0);

private:
    // A share's `left` counts its untaken units: whoever brings it down from a positive value owns
    // that many units, so the owner (from the front) and thieves (from the back) never take the
    // same one.
    struct alignas(64) Share {  // a cache line each; not initialised beyond the threads used
        std::atomic<int64_t> left, back;
        std::atomic<bool> started;  // the owner has taken from it
        int64_t front;              // moved by the owner only
    };
    int threads_;
    Share shares_[kMaxThreads];
};

}  // namespace krun::fast
