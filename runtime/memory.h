// The machine's physical memory: files and shapes asking for more are refused with a
// krun::Error before anything is allocated (instead of std::bad_alloc or the OOM killer).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <limits>

namespace krun {

inline int64_t physical_memory_bytes() {
    static const int64_t bytes = [] {
        const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
        return pages > 0 && page_size > 0 && pages < std::numeric_limits<int64_t>::max() / page_size
                   ? int64_t(pages) * page_size
                   : std::numeric_limits<int64_t>::max();
    }();
    return bytes;
}

}  // namespace krun
