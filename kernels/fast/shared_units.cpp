#include <algorithm>

#include "kernels/fast/fast.h"

namespace krun::fast {

SharedUnits::SharedUnits(int threads, int64_t units) : threads_(std::clamp(threads, 1, kMaxThreads)) {
    for (int t = 0; t < threads_; ++t) set_share(t, units * t / threads_, units * (t + 1) / threads_);
}

void SharedUnits::set_share(int t, int64_t begin, int64_t end) {
    Share & share = shares_[t];
    share.front = begin;
    share.back.store(end, std::memory_order_relaxed);
    share.left.store(end - begin, std::memory_order_relaxed);
    share.started.store(false, std::memory_order_relaxed);
}

// Units are independent and their results are read after the parallel region's barrier: the
// counters need atomicity, no ordering.
UnitRange SharedUnits::take(int t, int64_t run, int64_t keep) {
    Share & own = shares_[t];
    if (threads_ == 1) {  // all at once, no atomic operations (small models make many calls)
        const UnitRange units{own.front, own.back.load(std::memory_order_relaxed)};
        own.front = units.end;
        return units;
    }
    own.started.store(true, std::memory_order_relaxed);
    const int64_t left = own.left.fetch_sub(run, std::memory_order_relaxed);
    if (left > 0) {
        const UnitRange units{own.front, own.front + std::min(left, run)};
        own.front = units.end;
        return units;
    }
    for (int i = 1; i < threads_; ++i) {
        Share & other = shares_[(t + i) % threads_];
        // Units are kept only for an owner that has started: OpenMP may run fewer threads than
        // shares (a call from inside a parallel region), and a share without one is the thieves'.
        // The owner may take units between the two tests: a unit counted down from a positive
        // value is still the thief's, even with `keep` or fewer left.
        const int64_t kept = other.started.load(std::memory_order_relaxed) ? keep : 0;
        if (other.left.load(std::memory_order_relaxed) > kept &&
            other.left.fetch_sub(1, std::memory_order_relaxed) > 0) {
            const int64_t unit = other.back.fetch_sub(1, std::memory_order_relaxed) - 1;
            return {unit, unit + 1};
        }
    }
    return {};
}

}  // namespace krun::fast
