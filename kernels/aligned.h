// Memory aligned to a cache line. malloc aligns large blocks to 16 bytes only, so that every
// AVX-512 load or store at a multiple of 16 floats from such a block spans two cache lines (two
// accesses, and depthwise convolutions are bound by their loads). Activations, weights and the
// kernels' scratch buffers are allocated here instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

namespace krun {

constexpr std::size_t kCacheLineBytes = 64;

// An allocator for std::vector with cache-line-aligned storage.
template <class T>
struct CacheAligned {
    using value_type = T;
    CacheAligned() = default;
    template <class U>
    CacheAligned(const CacheAligned<U> &) {}
    T * allocate(std::size_t n) {
        return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t{kCacheLineBytes}));
    }
    void deallocate(T * p, std::size_t) { ::operator delete(p, std::align_val_t{kCacheLineBytes}); }
    friend bool operator==(const CacheAligned &, const CacheAligned &) { return true; }
    friend bool operator!=(const CacheAligned &, const CacheAligned &) { return false; }
};

// n (at least 1) 4-byte words, cache-line aligned, zero-filled when `zeroed`.
inline std::shared_ptr<uint32_t[]> cache_aligned_words(int64_t n, bool zeroed) {
    const std::size_t bytes = static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(uint32_t);
    auto * words = static_cast<uint32_t *>(::operator new(bytes, std::align_val_t{kCacheLineBytes}));
    if (zeroed) std::memset(words, 0, bytes);
    return {words, [](uint32_t * p) { ::operator delete(p, std::align_val_t{kCacheLineBytes}); }};
}

}  // namespace krun
