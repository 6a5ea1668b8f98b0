// Graph::run plans its activations once per input shape (runtime/run.cpp): a second run with the
// same shape allocates only what it returns. Counted by replacing the global operator new for
// the test binary (counting only on the thread that asks for it).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernels/fast/fast.h"
#include "loader/npy.h"
#include "support/helpers.h"

namespace {

std::atomic<long> allocations{0};
thread_local bool counting = false;

}  // namespace

// Every plain form is replaced, so that memory is never taken by one allocator and returned to
// another (AddressSanitizer reports that as alloc-dealloc-mismatch; std::stable_sort uses the
// nothrow form).
void * operator new(std::size_t size) {
    if (counting) ++allocations;
    if (void * p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void * operator new[](std::size_t size) { return operator new(size); }
void * operator new(std::size_t size, const std::nothrow_t &) noexcept {
    if (counting) ++allocations;
    return std::malloc(size ? size : 1);
}
void * operator new[](std::size_t size, const std::nothrow_t & tag) noexcept { return operator new(size, tag); }
void operator delete(void * p) noexcept { std::free(p); }
void operator delete(void * p, std::size_t) noexcept { std::free(p); }
void operator delete(void * p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void * p) noexcept { std::free(p); }
void operator delete[](void * p, std::size_t) noexcept { std::free(p); }
void operator delete[](void * p, const std::nothrow_t &) noexcept { std::free(p); }
// The aligned forms (tensors and the kernels' scratch buffers are cache-line aligned).
void * operator new(std::size_t size, std::align_val_t alignment) {
    if (counting) ++allocations;
    const std::size_t align = static_cast<std::size_t>(alignment);
    if (void * p = std::aligned_alloc(align, (size + align - 1) / align * align + (size ? 0 : align))) return p;
    throw std::bad_alloc();
}
void operator delete(void * p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void * p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace krun;
using namespace krun::test;

TEST_CASE("allocation: a second run with the same shapes allocates only the returned outputs", "[allocation]") {
    for (const char * name : {"tfk_dense_mlp", "tfk_mobilenet_v2_035", "k3_mobilenet_v3_small", "tfk_digits_cnn"}) {
        INFO(name);
        const fs::path folder = fs::path(KRUN_MODELS_DIR) / name;
        Options options;
        options.threads = 1;  // an OpenMP team of one: its start-up is not what is counted
        const Model model = Model::load((folder / "model.json").string(), options);
        const std::vector<Tensor> inputs = {read_npy((folder / "input_0.npy").string())};
        auto counted_run = [&] {
            allocations = 0;
            counting = true;
            const size_t outputs = model.run(inputs).size();
            counting = false;
            return std::make_pair(allocations.load(), outputs);
        };
        const auto [first, outputs] = counted_run();
        const long second = counted_run().first;
        // The returned vector, and per output its shape, its storage and the storage's owner.
        const long returned = 1 + 3 * static_cast<long>(outputs);
        CHECK(second <= returned);
        CHECK(first > returned);  // the first run planned: the counter sees allocations
    }
}

TEST_CASE("allocation: tensors, model outputs and kernel scratch buffers are cache-line aligned", "[allocation]") {
    // (malloc's 16-byte alignment makes every AVX-512 access of an activation span two cache lines)
    auto aligned = [](const void * p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; };
    CHECK(aligned(Tensor({3, 1000}).data()));
    CHECK(aligned(Tensor::uninitialized({100000}).data()));
    const fs::path folder = fs::path(KRUN_MODELS_DIR) / "tfk_mobilenet_v2_035";
    const Model model = Model::load((folder / "model.json").string());
    for (const Tensor & output : model.run({read_npy((folder / "input_0.npy").string())})) CHECK(aligned(output.data()));
    for (int slot = 0; slot < fast::kScratchSlots; ++slot)
        for (int64_t n : {1, 1000, 1 << 20}) CHECK(aligned(fast::scratch_floats(static_cast<fast::Scratch>(slot), n)));
}
