// The SIMD kernels, written once as templates over the xsimd architecture and compiled once per
// architecture: kernels/fast/<arch>.cpp includes this file and instantiates simd_table<Arch>()
// with that architecture's compiler flags.
//
// Everything here has internal linkage (anonymous namespace): an inline function compiled with
// AVX-512 flags in one file and with baseline flags in another must never be merged by the linker.
// For the same reason, no standard-library template that the rest of the program may also
// instantiate is used beyond the trivially inlined std::min/max/clamp (memcpy, not std::copy).
//
// Sums use FMA and other orders than the reference, so results are close to it, not identical
// (tests/support/tolerance.h). Activations with a vector form here use the reference's arithmetic.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <xsimd/xsimd.hpp>

#include "kernels/fast/fast.h"
#include "kernels/ref/ref.h"
#include "kernels/threaded.h"

namespace krun::fast {
namespace {

template <class Arch>
using Vec = xsimd::batch<float, Arch>;

// Below this many multiply-adds (or element operations) a call is not worth waking other threads:
// a parallel region costs a microsecond or two. Measured on MobileNetV3-Small at 2 threads (Zen 5):
// 2^15 to 2^17 all ~6% faster than 2^18, whose small layers ran on one thread and read what the
// other core had just written.
constexpr int64_t kMinWorkPerThread = int64_t{1} << 16;

// Threads worth using for `work` operations split into at most `parts` pieces.
int threads_for(int64_t work, int64_t parts) {
    if (work < 2 * kMinWorkPerThread) return 1;  // the common small call skips the OpenMP query
    return team_threads(std::min<int64_t>(work / kMinWorkPerThread, parts));
}

// Calls part(t, threads) on `threads` OpenMP threads (directly when there is one), and tells
// TeamBench how long thread 0 waited for the others.
template <class Part>
void run_parallel(int threads, const Part & part) {
    if (threads <= 1) {
        part(0, 1);
        return;
    }
    const int64_t start_ns = now_ns();
    int64_t part_ns = 0;  // thread 0's
#pragma omp parallel num_threads(threads)
    {
        const bool first = omp_get_thread_num() == 0;
        if (first) part_ns = -now_ns();
        part(omp_get_thread_num(), omp_get_num_threads());
        if (first) part_ns += now_ns();
    }
    note_region_end(start_ns, part_ns);
}

// Loads and stores of the first `count` floats at p (count <= lane count), never touching memory
// past them. The generic version goes through a stack copy; AVX-512 and AVX2 use masked moves.
template <class Arch>
struct Partial {
    static Vec<Arch> load(const float * p, int64_t count) {
        alignas(64) float lanes[Vec<Arch>::size] = {};
        std::memcpy(lanes, p, count * sizeof(float));
        return Vec<Arch>::load_aligned(lanes);
    }
    static void store(float * p, Vec<Arch> v, int64_t count) {
        alignas(64) float lanes[Vec<Arch>::size];
        v.store_aligned(lanes);
        std::memcpy(p, lanes, count * sizeof(float));
    }
};
#ifdef __AVX512F__
template <>
struct Partial<xsimd::avx512bw> {
    static __mmask16 mask(int64_t count) { return static_cast<__mmask16>((1u << count) - 1u); }
    static Vec<xsimd::avx512bw> load(const float * p, int64_t count) { return _mm512_maskz_loadu_ps(mask(count), p); }
    static void store(float * p, Vec<xsimd::avx512bw> v, int64_t count) { _mm512_mask_storeu_ps(p, mask(count), v); }
};
#endif
#ifdef __AVX2__
template <>
struct Partial<xsimd::fma3<xsimd::avx2>> {
    static __m256i mask(int64_t count) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static Vec<xsimd::fma3<xsimd::avx2>> load(const float * p, int64_t count) { return _mm256_maskload_ps(p, mask(count)); }
    static void store(float * p, Vec<xsimd::fma3<xsimd::avx2>> v, int64_t count) { _mm256_maskstore_ps(p, mask(count), v); }
};
#endif

// a * b + c with one rounding where the architecture has the instruction. xsimd 8 gives AVX-512
// only its generic form, a multiply then an add (kept apart by -ffp-contract=off): twice the
// instructions of the GEMM's and depthwise's inner loops. The intrinsic is used there instead.
template <class Arch>
Vec<Arch> multiply_add(Vec<Arch> a, Vec<Arch> b, Vec<Arch> c) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<Arch, xsimd::avx512bw>) return _mm512_fmadd_ps(a, b, c);
#endif
    return xsimd::fma(a, b, c);
}

// The floats p[0] and p[1], repeated across the vector.
template <class Arch>
Vec<Arch> broadcast_pair(const float * p) {
    double pair;
    std::memcpy(&pair, p, sizeof pair);
    return xsimd::bitwise_cast<Vec<Arch>>(xsimd::batch<double, Arch>(pair));
}

// Lane i < size / 2 is the sum of lanes 2i and 2i + 1 of lo, lane size / 2 + i that of hi's.
template <class Arch>
Vec<Arch> add_lane_pairs(Vec<Arch> lo, Vec<Arch> hi) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<Arch, xsimd::avx512bw>) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        return _mm512_add_ps(_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi));
    }
#endif
    constexpr int64_t lanes = Vec<Arch>::size;
    alignas(64) float in[2 * lanes], sums[lanes];
    lo.store_aligned(in), hi.store_aligned(in + lanes);
    for (int64_t i = 0; i < lanes; ++i) sums[i] = in[2 * i] + in[2 * i + 1];
    return Vec<Arch>::load_aligned(sums);
}

template <class Arch>
Vec<Arch> load_n(const float * p, int64_t count) {
    return count == Vec<Arch>::size ? Vec<Arch>::load_unaligned(p) : Partial<Arch>::load(p, count);
}

template <class Arch>
void store_n(float * p, Vec<Arch> v, int64_t count) {
    if (count == Vec<Arch>::size) v.store_unaligned(p);
    else Partial<Arch>::store(p, v, count);
}

// The activations computed in registers; every other one runs ref::unary on the stored values.
bool has_vector_form(Unary op) {
    switch (op) {
    case Unary::Linear: case Unary::Relu: case Unary::Relu6: case Unary::HardSigmoidKeras2:
    case Unary::HardSigmoidKeras3: case Unary::HardSilu: case Unary::LeakyRelu: case Unary::HardTanh:
    case Unary::Sigmoid: case Unary::Tanh: case Unary::Swish: case Unary::ScaleShift:
        return true;
    default: return false;
    }
}

// min(max(x, lo), hi), keeping a NaN x as the reference does: x86's max and min return their
// second operand when either is NaN (two instructions, where compares and selects take four).
// The reference's x <= lo ? lo : x gives +0 for x = -0 and lo = 0, this -0: equal values.
template <class Arch>
[[gnu::always_inline]] inline Vec<Arch> clamp(Vec<Arch> x, float lo, float hi) {
    return xsimd::min(Vec<Arch>(hi), xsimd::max(Vec<Arch>(lo), x));
}

// 1 / (1 + e^-x) with xsimd's exp, within a few ulps of libm's (tests/support/tolerance.h).
template <class Arch>
[[gnu::always_inline]] inline Vec<Arch> sigmoid(Vec<Arch> x) {
    return Vec<Arch>(1.f) / (Vec<Arch>(1.f) + xsimd::exp(-x));
}

// The reference formulas of kernels/ref/unary.cpp, same operations in the same order; sigmoid,
// tanh and swish use xsimd's exp and tanh instead of libm's.
template <class Arch>
[[gnu::always_inline]] inline Vec<Arch> activate(const UnaryArgs & f, Vec<Arch> x) {
    using V = Vec<Arch>;
    switch (f.op) {
    case Unary::Relu: return xsimd::select(x <= V(0.f), V(0.f), x);
    case Unary::Relu6: return clamp(x, 0.f, 6.f);
    case Unary::HardSigmoidKeras2: return clamp(x * V(0.2f) + V(0.5f), 0.f, 1.f);
    case Unary::HardSigmoidKeras3: return clamp(x + V(3.f), 0.f, 6.f) / V(6.f);
    case Unary::HardSilu: return x * (clamp(x + V(3.f), 0.f, 6.f) / V(6.f));
    case Unary::LeakyRelu: return xsimd::select(x >= V(0.f), x, V(f.alpha) * x);
    case Unary::HardTanh: return clamp(x, -1.f, 1.f);
    case Unary::Sigmoid: return sigmoid<Arch>(x);
    case Unary::Tanh: return xsimd::tanh(x);
    case Unary::Swish: return x * sigmoid<Arch>(x);
    case Unary::ScaleShift: return V(f.alpha) * x + V(f.beta);
    default: return x;
    }
}

// How a kernel applies its epilogue's activation in registers, fixed at compile time so that the
// store loops of the GEMM tiles and the depthwise kernel carry no per-vector switch: not at all
// (linear), as a clamp (relu, relu6, hard tanh), as hard-swish (MobileNetV3), or through
// activate() (any other).
enum class Act { Linear, Clamp, HardSilu, Switch };

// The bounds of an activation of the clamp family, as min(max(x, lo), hi).
struct ClampBounds {
    float lo, hi;
};
ClampBounds clamp_bounds(Unary op) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    if (op == Unary::Relu) return {0.f, inf};
    if (op == Unary::Relu6) return {0.f, 6.f};
    return {-1.f, 1.f};  // HardTanh
}

// Calls body(std::integral_constant<Act, ...>) with the Act of epilogue e.
template <class Body>
void with_act(const Epilogue & e, const Body & body) {
    switch (e.activation.op) {
    case Unary::Linear: return body(std::integral_constant<Act, Act::Linear>());
    case Unary::Relu: case Unary::Relu6: case Unary::HardTanh: return body(std::integral_constant<Act, Act::Clamp>());
    case Unary::HardSilu: return body(std::integral_constant<Act, Act::HardSilu>());
    default: return body(std::integral_constant<Act, Act::Switch>());
    }
}

// Writes finished output values: put() stores activation(x) (+ residual) when the activation has
// a vector form, else x; finish() then applies the reference epilogue to the run put() wrote.
template <class Arch, Act A>
class OutputWriter {
public:
    explicit OutputWriter(const Epilogue & e)
        : epilogue_(e), in_registers_(has_vector_form(e.activation.op)), bounds_(clamp_bounds(e.activation.op)) {}

    // Full: count is the lane count (no masked load or store).
    template <bool Full = false>
    [[gnu::always_inline]] void put(Vec<Arch> x, float * y, const float * residual, int64_t count) const {
        if constexpr (A == Act::Clamp) x = clamp<Arch>(x, bounds_.lo, bounds_.hi);
        if constexpr (A == Act::HardSilu) x = activate<Arch>({Unary::HardSilu}, x);
        if constexpr (A == Act::Switch)
            if (in_registers_) x = activate<Arch>(epilogue_.activation, x);
        if (residual && (A != Act::Switch || in_registers_)) x += load<Full>(residual, count);
        if constexpr (Full) x.store_unaligned(y);
        else store_n<Arch>(y, x, count);
    }
    template <bool Full = false>
    [[gnu::always_inline]] static Vec<Arch> load(const float * p, int64_t count) {
        if constexpr (Full) return Vec<Arch>::load_unaligned(p);
        else return load_n<Arch>(p, count);
    }
    void finish(float * y, const float * residual, int64_t n) const {
        if (A == Act::Switch && !in_registers_) ref::epilogue(epilogue_, y, residual, n);
    }

private:
    const Epilogue & epilogue_;
    bool in_registers_;
    ClampBounds bounds_;
};

// ---------------------------------------------------------------------------------------------
// GEMM. C is computed in tiles of up to kRows rows by up to kPanelVectors vectors of columns, the
// sums in registers. B is read in panels of kPanel columns: packed (pack_b: each panel
// stored as k rows of its width, the last panel's width rounded up to whole vectors, zero-filled,
// or by pairs of rows where it is narrow, see k_paired) or in place with stride ldb (a last panel
// with a partial vector is first copied, packed).
//
// A is given as row pointers, so that a convolution can gather its rows in place: row i of A is
// the concatenation of `segments` runs of seg_len floats (one run per kernel tap), and B row
// s * seg_len + p multiplies element p of run s.
template <class Arch>
struct Gemm {
    static constexpr int64_t kLanes = Vec<Arch>::size;
    // Accumulators: kRows * kPanelVectors vectors, leaving registers for the B vectors and the
    // broadcast: 24 of AVX-512's 32 registers, 12 of AVX2's 16. With AVX-512, 8x3 tiles were
    // 2-6% faster than 8x2 on MobileNet's pointwise convolutions (Zen 5), and the panels of 48
    // columns fit their expansions (96, 144, 192, 384, 576, 960 channels) exactly.
    static constexpr int kPanelVectors = kLanes == 16 ? 3 : 2;
    static constexpr int64_t kPanel = kPanelVectors * kLanes;
    static constexpr int kRows = kLanes == 16 ? 8 : 6;

    // A narrow panel (up to 24 columns, 16 lanes) fills vectors badly: 24 columns are a vector
    // and a half (a two-vector tile wastes a quarter of its FMAs), and a one-vector tile needs an
    // A broadcast per FMA (the loads then bound it: 150 GFLOP/s where wider tiles reach 240, Zen
    // 5). Such a panel (all of B, or the last of 64 or 160 columns) is packed by pairs of rows
    // (tile<..., Paired>): vector h of pair q holds columns [8h, 8h + 8) of rows 2q and 2q + 1
    // interleaved, lane 2i + parity = B[2q + parity][8h + i] (zero past k and the columns), so
    // that one FMA with A's pair (a[2q], a[2q + 1]) broadcast covers two k and 8 columns, with no
    // lane wasted beyond the last 8 columns. Only from 16 k: shorter sums are rare (a few input
    // channels) and gain less (8 and 12 k: 91 -> 96 and 108 -> 122 GFLOP/s), while their two
    // partial sums move them further from Keras's sequential order (tfk_normalization, k = 3:
    // 4.6e-5 from Keras where the plain tiles are 3.1e-5, beyond kFusedAtol from the reference).
    static constexpr int64_t kHalf = kLanes / 2;
    static bool k_paired(int64_t k, int64_t cols) { return kLanes == 16 && cols <= 24 && k >= 16; }
    // Vectors per pair of rows of a panel packed by pairs.
    static int64_t pair_vectors(int64_t cols) { return (cols + kHalf - 1) / kHalf; }
    // Where B[p][c] lies in a panel of `cols` columns packed by pairs of rows.
    static int64_t pair_index(int64_t p, int64_t c, int64_t cols) {
        return p / 2 * pair_vectors(cols) * kLanes + c / kHalf * kLanes + c % kHalf * 2 + p % 2;
    }

    // Floats per row of a panel of `cols` columns in the plain packed layout: whole vectors.
    static int64_t plain_width(int64_t cols) { return (cols + kLanes - 1) / kLanes * kLanes; }

    static int64_t packed_panel_size(int64_t k, int64_t cols) {
        if (k_paired(k, cols)) return (k + 1) / 2 * pair_vectors(cols) * kLanes;
        return k * plain_width(cols);
    }
    static int64_t packed_b_size(int64_t k, int64_t n) {
        const int64_t last = (n - 1) / kPanel * kPanel;  // the last panel's first column
        return n > 0 ? k * last + packed_panel_size(k, n - last) : 0;
    }

    // A panel packed by pairs of rows, copied into the plain packed layout (for kernels that read
    // it so).
    static const float * plain_copy(const float * panel, int64_t k, int64_t cols) {
        const int64_t width = plain_width(cols);
        float * plain = scratch_floats(Scratch::TailPanel, k * width);
        for (int64_t p = 0; p < k; ++p)
            for (int64_t c = 0; c < width; ++c) plain[p * width + c] = c < cols ? panel[pair_index(p, c, cols)] : 0.f;
        return plain;
    }

    // B is read row by row (in order: the matrix was just read from the shards and is not in
    // cache), each row's panel slices written to their panels.
    static void pack_b(const float * b, int64_t k, int64_t n, const double * column_scale, float * packed) {
        const int64_t last = (n - 1) / kPanel * kPanel;
        if (n > 0 && k_paired(k, n - last)) std::memset(packed + k * last, 0, packed_panel_size(k, n - last) * sizeof(float));
        for (int64_t p = 0; p < k; ++p) {
            const float * row = b + p * n;
            for (int64_t j0 = 0; j0 < n; j0 += kPanel) {
                const int64_t cols = std::min(kPanel, n - j0);
                auto value = [&](int64_t c) {
                    return column_scale ? static_cast<float>(row[j0 + c] * column_scale[j0 + c]) : row[j0 + c];
                };
                float * panel = packed + k * j0;  // panels before this one hold k * kPanel floats each
                if (k_paired(k, cols)) {
                    for (int64_t c = 0; c < cols; ++c) panel[pair_index(p, c, cols)] = value(c);
                    continue;
                }
                const int64_t width = plain_width(cols);
                float * to = panel + p * width;
                for (int64_t c = 0; c < cols; ++c) to[c] = value(c);
                std::memset(to + cols, 0, (width - cols) * sizeof(float));
            }
        }
    }

    template <Act A>
    struct Output {
        float * c;
        int64_t ldc;
        const float * bias;      // at the tile's first column, or null
        const float * residual;  // at the tile's first element, or null
        bool accumulate;
        const OutputWriter<Arch, A> * writer;
    };

    // One tile of Rows x (Vectors * kLanes) outputs, `cols` of them stored. a_rows holds
    // segments * Rows pointers, run s of row r at a_rows[s * Rows + r]. Small tiles (few rows,
    // e.g. a Dense layer at batch 1) keep two sets of sums, over even and odd k, so that more
    // FMAs are in flight than one set of registers allows. Paired: B is a panel packed by pairs
    // of rows (k_paired; b_stride floats per pair), Vectors sums per row over 8 columns each,
    // the even and the odd k in alternate lanes, added when stored; runs are of even length, or
    // there is one (its last k then alone: B's odd lanes are zero there, and a[k] is not read).
    template <int Rows, int Vectors, Act A, bool Paired = false>
    static void tile(const float * const * a_rows, int64_t segments, int64_t seg_len, const float * b, int64_t b_stride,
                     const Output<A> & out, int64_t cols) {
        using V = Vec<Arch>;
        constexpr int kSets = !Paired && Rows * Vectors < 6 ? 2 : 1;
        constexpr int64_t kStep = Paired ? 2 : 1;  // k per B row
        // The first set of plain sums starts from the bias (where the reference adds it last).
        V acc[kSets][Rows][Vectors];
        V start[Vectors];
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v)
            start[v] = out.bias && !Paired ? load_n<Arch>(out.bias + v * kLanes, std::min(kLanes, cols - v * kLanes)) : V(0.f);
        for (int set = 0; set < kSets; ++set)
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
                for (int v = 0; v < Vectors; ++v) acc[set][r][v] = set == 0 ? start[v] : V(0.f);
        // Adds A elements [p, p + kStep) (of each row's run) times B row bp to sum set `set`;
        // a single one when `single`.
        auto step = [&](const float * const * a, const float * bp, int64_t p, int set, auto single) {
            V bv[Vectors];
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) bv[v] = V::load_unaligned(bp + v * kLanes);
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r) {
                const V av = kStep == 1 || decltype(single)::value ? V(a[r][p]) : broadcast_pair<Arch>(a[r] + p);
#pragma GCC unroll 4
                for (int v = 0; v < Vectors; ++v) acc[set][r][v] = multiply_add<Arch>(av, bv[v], acc[set][r][v]);
            }
        };
        for (int64_t s = 0; s < segments; ++s) {
            const float * a[Rows];
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r) a[r] = a_rows[s * Rows + r];
            const float * bp = b + s * seg_len / kStep * b_stride;
            int64_t p = 0;
            for (; p + kSets * kStep <= seg_len; p += kSets * kStep)
                for (int set = 0; set < kSets; ++set)
                    step(a, bp + (p / kStep + set) * b_stride, p + set * kStep, set, std::false_type());
            for (; p + kStep <= seg_len; p += kStep) step(a, bp + p / kStep * b_stride, p, 0, std::false_type());
            if (p < seg_len) step(a, bp + p / kStep * b_stride, p, 0, std::true_type());
        }
        if (kSets == 2)
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
                for (int v = 0; v < Vectors; ++v) acc[0][r][v] += acc[kSets - 1][r][v];
        if constexpr (Paired) {
            // The sums of columns [0, 16) and [16, 24), as a plain tile holds them.
            constexpr int kOut = (Vectors + 1) / 2;
            V sums[Rows][kOut];
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 2
                for (int v = 0; v < kOut; ++v) {
                    sums[r][v] = add_lane_pairs<Arch>(acc[0][r][2 * v], acc[0][r][std::min(2 * v + 1, Vectors - 1)]);
                    if (out.bias) sums[r][v] += load_n<Arch>(out.bias + v * kLanes, std::min(kLanes, cols - v * kLanes));
                }
            if (cols == kOut * kLanes) store<Rows, kOut, true>(sums, out, cols);
            else store<Rows, kOut, false>(sums, out, cols);
        } else {
            if (cols == Vectors * kLanes) store<Rows, Vectors, true>(acc[0], out, cols);
            else store<Rows, Vectors, false>(acc[0], out, cols);
        }
    }

    // Adds C when accumulating, then writes the tile through the epilogue.
    template <int Rows, int Vectors, bool Full, Act A>
    [[gnu::always_inline]] static void store(const Vec<Arch> (&acc)[Rows][Vectors], const Output<A> & out, int64_t cols) {
        using W = OutputWriter<Arch, A>;
#pragma GCC unroll 16
        for (int r = 0; r < Rows; ++r) {
            float * c = out.c + r * out.ldc;
            const float * residual = out.residual ? out.residual + r * out.ldc : nullptr;
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) {
                const int64_t count = Full ? kLanes : std::min(kLanes, cols - v * kLanes);
                Vec<Arch> x = acc[r][v];
                if (out.accumulate) x = W::template load<Full>(c + v * kLanes, count) + x;
                out.writer->template put<Full>(x, c + v * kLanes, residual ? residual + v * kLanes : nullptr, count);
            }
            out.writer->finish(c, residual, cols);
        }
    }

    template <Act A>
    using TileFn = void (*)(const float * const *, int64_t, int64_t, const float *, int64_t, const Output<A> &, int64_t);

    template <int Rows, int Vectors, Act A, bool Paired>
    static constexpr TileFn<A> tile_if_used() {
        if constexpr (Paired ? kLanes == 16 : Vectors <= kPanelVectors) return tile<Rows, Vectors, A, Paired>;
        else return nullptr;
    }
    template <Act A, bool Paired, size_t... R>
    static constexpr std::array<std::array<TileFn<A>, 3>, sizeof...(R)> tile_table(std::index_sequence<R...>) {
        return {{{tile_if_used<R + 1, 1, A, Paired>(), tile_if_used<R + 1, 2, A, Paired>(),
                  tile_if_used<R + 1, 3, A, Paired>()}...}};
    }
    // tiles<A>[rows - 1][vectors - 1], vectors <= kPanelVectors; paired_tiles<A>[rows - 1][
    // pair_vectors(cols) - 1] for a panel packed by pairs of rows
    template <Act A>
    static constexpr std::array<std::array<TileFn<A>, 3>, kRows> tiles =
        tile_table<A, false>(std::make_index_sequence<kRows>());
    template <Act A>
    static constexpr std::array<std::array<TileFn<A>, 3>, kRows> paired_tiles =
        tile_table<A, true>(std::make_index_sequence<kRows>());

    struct Problem {
        int64_t m = 0, n = 0, segments = 1, seg_len = 0;
        const float * b = nullptr;
        int64_t ldb = 0;
        bool packed = false;
        const float * bias = nullptr;
        float * c = nullptr;
        int64_t ldc = 0;
        bool accumulate = false;
        const Epilogue * epilogue = nullptr;
    };

    // Rows per pass over the panels: their A runs (about 256 KiB) stay in L2 across panels.
    static int64_t chunk_rows(int64_t k) {
        return std::clamp<int64_t>((int64_t{1} << 16) / std::max<int64_t>(k, 1) / kRows, 1, 128) * kRows;
    }

    // Computes rows [row_begin, row_end) and panels [panel_begin, panel_end) of the problem.
    // fill_row(i, slot, pointers, stride) writes the `segments` run pointers of A row i at
    // pointers[s * stride]; slot (< chunk_rows(k)) is the row's place in the current pass, for a
    // fill_row that copies rows into a buffer of its own. Rows are asked for in increasing order,
    // of a copy of fill_row per block, which may keep state between calls (a cursor, a buffer).
    template <Act A, class FillRow>
    static void run_block(const Problem & g, FillRow fill_row, int64_t row_begin, int64_t row_end,
                          int64_t panel_begin, int64_t panel_end) {
        const int64_t k = g.segments * g.seg_len;
        const OutputWriter<Arch, A> writer(*g.epilogue);
        const int64_t chunk_rows = Gemm::chunk_rows(k);
        const float ** pointers = scratch_pointers(chunk_rows * g.segments);

        // The last panel is read by paired tiles where it is packed by pairs of rows, unless a run
        // of odd length would end inside a pair. It is read from a plain packed copy then, and
        // where it is read in place with a partial vector.
        const int64_t last_panel = (g.n - 1) / kPanel, last_j0 = last_panel * kPanel, last_cols = g.n - last_j0;
        const bool last_paired = g.packed && k_paired(k, last_cols);
        const bool k_pairs = last_paired && (g.segments == 1 || g.seg_len % 2 == 0);
        const float * tail_panel = nullptr;
        if (last_panel >= panel_begin && last_panel < panel_end) {
            if (last_paired && !k_pairs) {
                tail_panel = plain_copy(g.b + k * last_j0, k, last_cols);
            } else if (!g.packed && g.n % kLanes != 0) {
                const int64_t width = plain_width(last_cols);
                float * copy = scratch_floats(Scratch::TailPanel, k * width);
                for (int64_t p = 0; p < k; ++p) {
                    std::memcpy(copy + p * width, g.b + p * g.ldb + last_j0, last_cols * sizeof(float));
                    std::memset(copy + p * width + last_cols, 0, (width - last_cols) * sizeof(float));
                }
                tail_panel = copy;
            }
        }

        for (int64_t i0 = row_begin; i0 < row_end; i0 += chunk_rows) {
            const int64_t i1 = std::min(row_end, i0 + chunk_rows);
            for (int64_t t0 = i0; t0 < i1; t0 += kRows) {
                const int64_t rows = std::min<int64_t>(kRows, i1 - t0);
                const float ** tile_pointers = pointers + (t0 - i0) * g.segments;
                for (int64_t r = 0; r < rows; ++r) fill_row(t0 + r, t0 + r - i0, tile_pointers + r, rows);
            }
            for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
                const int64_t j0 = panel * kPanel, cols = std::min(kPanel, g.n - j0);
                const int64_t vectors = (cols + kLanes - 1) / kLanes;
                const float * b = g.b + j0;
                int64_t b_stride = g.ldb;
                if (g.packed) b = g.b + k * j0, b_stride = vectors * kLanes;
                if (panel == last_panel && tail_panel) b = tail_panel, b_stride = vectors * kLanes;
                const bool pairs = panel == last_panel && k_pairs;
                const auto & tile_fns = pairs ? paired_tiles<A> : tiles<A>;
                const int64_t tile_vectors = pairs ? pair_vectors(cols) : vectors;
                if (pairs) b_stride = tile_vectors * kLanes;
                for (int64_t t0 = i0; t0 < i1; t0 += kRows) {
                    const int64_t rows = std::min<int64_t>(kRows, i1 - t0);
                    const Output<A> out{g.c + t0 * g.ldc + j0, g.ldc, g.bias ? g.bias + j0 : nullptr,
                                     g.epilogue->residual ? g.epilogue->residual + t0 * g.ldc + j0 : nullptr,
                                     g.accumulate, &writer};
                    tile_fns[rows - 1][tile_vectors - 1](pointers + (t0 - i0) * g.segments, g.segments, g.seg_len, b,
                                                         b_stride, out, cols);
                }
            }
        }
    }

    // Tiles [u0, u1) of the panel-major order (panel by panel, row tiles within a panel), of
    // row_tiles per panel: a partial first panel, whole panels, a partial last panel.
    template <Act A, class FillRow>
    static void run_tiles(const Problem & g, const FillRow & fill_row, int64_t row_tiles, int64_t u0, int64_t u1) {
        while (u0 < u1) {
            const int64_t panel = u0 / row_tiles, first = u0 % row_tiles;
            const int64_t last = std::min(row_tiles, first + u1 - u0);
            const int64_t panel_end = first == 0 && last == row_tiles ? u1 / row_tiles : panel + 1;
            run_block<A>(g, fill_row, first * kRows, std::min(g.m, last * kRows), panel, panel_end);
            u0 = panel_end > panel + 1 ? panel_end * row_tiles : u0 + last - first;
        }
    }

    // Where thread t of `threads` starts in the panel-major order of tiles, each tile counted by
    // its vectors, so that a narrow last panel counts for less (160 columns: 3 + 3 + 3 + 1 vectors
    // make halves of 5, not of 2 panels).
    static int64_t first_tile(int64_t n, int64_t row_tiles, int t, int threads) {
        const int64_t panels = (n + kPanel - 1) / kPanel;
        const int64_t panel_vectors = kPanelVectors * row_tiles;  // a whole panel's
        const int64_t before = (n + kLanes - 1) / kLanes * row_tiles * t / threads;
        const int64_t panel = std::min(before / panel_vectors, panels - 1);
        const int64_t tile_vectors = panel < panels - 1 ? kPanelVectors : ((n - panel * kPanel) + kLanes - 1) / kLanes;
        const int64_t tile = (before - panel * panel_vectors + tile_vectors / 2) / tile_vectors;
        return panel * row_tiles + std::min(tile, row_tiles);
    }

    // The whole problem, split across threads by panels when B is the larger operand (few rows:
    // each thread reads its share of B) and by rows otherwise. Panels are split tile by tile
    // (first_tile), so that 5 panels make two even halves rather than 3 and 2.
    template <class FillRow>
    static void run(const Problem & g, const FillRow & fill_row) {
        if (g.m <= 0 || g.n <= 0) return;
        const int64_t panels = (g.n + kPanel - 1) / kPanel, row_tiles = (g.m + kRows - 1) / kRows;
        const bool split_panels = (g.n > g.m && panels > 1) || row_tiles == 1;
        // A tile with fewer rows takes about as long as a full one (B is read all the same): counted
        // as full, so that a matrix-vector product with large weights splits them across threads.
        const int64_t cost_rows = std::max<int64_t>(g.m, kRows);
        const int threads = threads_for(cost_rows * g.n * g.segments * g.seg_len, split_panels ? panels : row_tiles);
        // Units: row tiles, taken a pass (chunk_rows) at a time, or tiles in panel-major order,
        // a panel's at a time.
        SharedUnits units(threads, row_tiles);
        if (split_panels)
            for (int t = 0; t < threads; ++t)
                units.set_share(t, first_tile(g.n, row_tiles, t, threads), first_tile(g.n, row_tiles, t + 1, threads));
        const int64_t run = split_panels ? row_tiles : chunk_rows(g.segments * g.seg_len) / kRows;
        with_act(*g.epilogue, [&](auto act) {
            run_parallel(threads, [&](int t, int) {
                for (UnitRange u; !(u = units.take(t, run)).empty();) {
                    if (split_panels) run_tiles<act()>(g, fill_row, row_tiles, u.begin, u.end);
                    else run_block<act()>(g, fill_row, u.begin * kRows, std::min(g.m, u.end * kRows), 0, panels);
                }
            });
        });
    }
};

template <class Arch>
void gemm(const GemmArgs & a) {
    typename Gemm<Arch>::Problem g;
    g.m = a.m, g.n = a.n, g.seg_len = a.k, g.b = a.b, g.ldb = a.ldb, g.packed = a.packed;
    g.bias = a.bias, g.c = a.c, g.ldc = a.ldc, g.accumulate = a.accumulate, g.epilogue = &a.epilogue;
    if (a.k == 0) {  // no run to read: C = bias (+ C), then the epilogue
        g.seg_len = 0;
        const float * none = zeros(1);
        Gemm<Arch>::run(g, [&](int64_t, int64_t, const float ** pointers, int64_t) { pointers[0] = none; });
        return;
    }
    Gemm<Arch>::run(g, [&](int64_t i, int64_t, const float ** pointers, int64_t) { pointers[0] = a.a + i * a.lda; });
}

// The output pixel of GEMM row i of a convolution, followed from row to row without dividing.
struct PixelCursor {
    int64_t out_h, out_w;
    int64_t row = -2, ox = 0, oy = 0, image = 0;
    void seek(int64_t i) {
        if (i == row + 1) {
            if (++ox == out_w) {
                ox = 0;
                if (++oy == out_h) oy = 0, ++image;
            }
        } else {
            ox = i % out_w;
            const int64_t rest = i / out_w;
            oy = rest % out_h, image = rest / out_h;
        }
        row = i;
    }
};

// to[0, n) = from[0, n) (the runs copied here are short: a call to memcpy costs more). The last
// vector overlaps the one before rather than being masked (masked stores are slow on AMD).
template <class Arch>
void copy_floats(float * to, const float * from, int64_t n) {
    constexpr int64_t lanes = Vec<Arch>::size;
    if (n < lanes) {
        for (int64_t i = 0; i < n; ++i) to[i] = from[i];
        return;
    }
    for (int64_t i = 0; i + lanes <= n; i += lanes) Vec<Arch>::load_unaligned(from + i).store_unaligned(to + i);
    Vec<Arch>::load_unaligned(from + n - lanes).store_unaligned(to + n - lanes);
}

// The output columns [begin, end) of convolution a whose windows lie inside the input row.
struct InsideColumns {
    int64_t begin, end;
    explicit InsideColumns(const Conv2dArgs & a) : begin(std::min(a.out_w, (a.pad_left + a.stride_w - 1) / a.stride_w)) {
        const int64_t last_start = a.in_w - 1 - (a.kernel_w - 1) * a.dilation_w + a.pad_left;  // times stride_w
        end = last_start < 0 ? begin : std::clamp(last_start / a.stride_w + 1, begin, a.out_w);
    }
};

// ---------------------------------------------------------------------------------------------
// The first convolution of most image models: 3 input channels (RGB), 3x3, stride 2, into one or
// two vectors of output channels. Its GEMM rows are only 27 multiply-adds long, so that the
// generic tile's costs per tile (row pointers, three runs to set up) weigh. Here a block of R
// pixels of an output row reads kernel row ky of pixel r at in_rows[ky] + r * 6: every address a
// constant offset from three pointers, and no pointers to find.
namespace rgb_stem {
constexpr int64_t kSide = 3, kChannels = 3, kStride = 2, kRun = kSide * kChannels, kPixelStep = kStride * kChannels;

// R pixels from ox on: out (and residual) at the first one, B rows b_stride floats apart.
template <class Arch, Act A, int Vectors, int R>
void block(const float * const * in_rows, const float * b, int64_t b_stride, const float * bias, int64_t n,
           float * out, const float * residual, const OutputWriter<Arch, A> & writer) {
    using V = Vec<Arch>;
    constexpr int64_t lanes = V::size;
    V acc[R][Vectors];
#pragma GCC unroll 2
    for (int v = 0; v < Vectors; ++v) {
        const V start = bias ? load_n<Arch>(bias + v * lanes, std::min(lanes, n - v * lanes)) : V(0.f);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][v] = start;
    }
#pragma GCC unroll 3
    for (int64_t ky = 0; ky < kSide; ++ky) {
        const float * in = in_rows[ky];
#pragma GCC unroll 9
        for (int64_t j = 0; j < kRun; ++j) {
            V bv[Vectors];
#pragma GCC unroll 2
            for (int v = 0; v < Vectors; ++v) bv[v] = V::load_unaligned(b + (ky * kRun + j) * b_stride + v * lanes);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const V av(in[r * kPixelStep + j]);
#pragma GCC unroll 2
                for (int v = 0; v < Vectors; ++v) acc[r][v] = multiply_add<Arch>(av, bv[v], acc[r][v]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < Vectors; ++v) {
            const int64_t at = r * n + v * lanes;
            writer.put(acc[r][v], out + at, residual ? residual + at : nullptr, std::min(lanes, n - v * lanes));
        }
    writer.finish(out, residual, R * n);
}

// Whether rgb_stem::run computes convolution a: the geometry above, weights packed or whole
// vectors, and AVX-512 (its 32 registers hold a block's sums and weights; not measured elsewhere).
template <class Arch>
bool applies(const Conv2dArgs & a) {
    constexpr int64_t lanes = Vec<Arch>::size;
    return a.in_channels == kChannels && a.kernel_h == kSide && a.kernel_w == kSide && a.stride_h == kStride &&
           a.stride_w == kStride && a.dilation_h == 1 && a.dilation_w == 1 && a.groups == 1 && lanes >= 16 &&
           a.out_channels <= 2 * lanes && (a.packed || a.out_channels % lanes == 0);
}

// Blocks of 6 pixels for two vectors of output channels, 8 for one. Measured with AVX-512 on Zen 5,
// 224x224x3 to 32 channels: 146 us with the generic tiles, 111 in blocks of 6, 134 of 8 (more sums
// in registers, slower); to 16 channels: 104, 64 in blocks of 8, 72 of 12.
template <class Arch, Act A, int Vectors>
void run(const Conv2dArgs & a) {
    constexpr int R = Vectors == 2 ? 6 : 8;
    constexpr int64_t lanes = Vec<Arch>::size;
    const OutputWriter<Arch, A> writer(a.epilogue);
    const int64_t n = a.out_channels, b_stride = a.packed ? Vectors * lanes : n, rows = a.batch * a.out_h;
    // Narrow packed weights are packed by pairs of rows; this kernel reads the plain layout.
    const bool paired = a.packed && Gemm<Arch>::k_paired(kSide * kRun, n);
    const float * b = paired ? Gemm<Arch>::plain_copy(a.kernel, kSide * kRun, n) : a.kernel;
    const int64_t row_elems = a.in_w * kChannels;
    const InsideColumns inside(a);
    const int threads = threads_for(rows * a.out_w * n * kSide * kRun, rows);
    SharedUnits units(threads, rows);  // output rows
    run_parallel(threads, [&](int t, int) {
        float window[kSide * kRun];  // a pixel's window with its padding, for pixels at the borders
        for (UnitRange u; !(u = units.take(t, 1)).empty();)
            for (int64_t row = u.begin; row < u.end; ++row) {
                const int64_t image = row / a.out_h, iy0 = row % a.out_h * kStride - a.pad_top;
                const bool rows_inside = iy0 >= 0 && iy0 + kSide <= a.in_h;
                const float * in = a.input + image * a.in_h * row_elems;
                float * out_row = a.output + row * a.out_w * n;
                const float * residual_row = a.epilogue.residual ? a.epilogue.residual + row * a.out_w * n : nullptr;
                auto pixels = [&](auto count_constant, int64_t ox, const float * const * in_rows) {
                    block<Arch, A, Vectors, decltype(count_constant)::value>(
                        in_rows, b, b_stride, a.bias, n, out_row + ox * n,
                        residual_row ? residual_row + ox * n : nullptr, writer);
                };
                auto in_place = [&](int64_t ox, auto count_constant) {
                    const float * start = in + iy0 * row_elems + (ox * kStride - a.pad_left) * kChannels;
                    const float * in_rows[kSide] = {start, start + row_elems, start + 2 * row_elems};
                    pixels(count_constant, ox, in_rows);
                };
                auto bordered = [&](int64_t ox) {
                    const int64_t ix0 = ox * kStride - a.pad_left;
                    for (int64_t ky = 0; ky < kSide; ++ky)
                        for (int64_t kx = 0; kx < kSide; ++kx)
                            for (int64_t c = 0; c < kChannels; ++c) {
                                const int64_t iy = iy0 + ky, ix = ix0 + kx;
                                const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
                                const float pad = a.pad_values ? a.pad_values[c] : 0.f;
                                window[ky * kRun + kx * kChannels + c] = inside ? in[iy * row_elems + ix * kChannels + c] : pad;
                            }
                    const float * window_rows[kSide] = {window, window + kRun, window + 2 * kRun};
                    pixels(std::integral_constant<int, 1>(), ox, window_rows);
                };
                if (!rows_inside) {
                    for (int64_t ox = 0; ox < a.out_w; ++ox) bordered(ox);
                    continue;
                }
                for (int64_t ox = 0; ox < inside.begin; ++ox) bordered(ox);
                if (inside.end - inside.begin >= R) {
                    // Blocks of R, the last one ending at inside.end (it may recompute a few pixels).
                    for (int64_t ox = inside.begin;; ox += R) {
                        ox = std::min(ox, inside.end - R);
                        in_place(ox, std::integral_constant<int, R>());
                        if (ox + R == inside.end) break;
                    }
                } else {
                    for (int64_t ox = inside.begin; ox < inside.end; ++ox)
                        in_place(ox, std::integral_constant<int, 1>());
                }
                for (int64_t ox = inside.end; ox < a.out_w; ++ox) bordered(ox);
            }
    });
}
}  // namespace rgb_stem

// Convolution as a GEMM over output pixels: A row (image, oy, ox) is the kernel_h * kernel_w
// input pixels the window covers (in_channels floats each, zeros where the window leaves the
// input). With many input channels the GEMM reads them in place, one run per tap; with few, runs
// that short cost more than their pointers: one run per kernel row instead.
template <class Arch>
void conv2d(const Conv2dArgs & a) {
    if (a.groups != 1) return threaded::conv2d(a);
    constexpr int64_t kMinInPlaceRun = 16;
    typename Gemm<Arch>::Problem g;
    g.m = a.batch * a.out_h * a.out_w, g.n = a.out_channels;
    g.segments = a.kernel_h * a.kernel_w, g.seg_len = a.in_channels;
    g.b = a.kernel, g.ldb = a.out_channels, g.packed = a.packed;
    g.bias = a.bias, g.c = a.output, g.ldc = a.out_channels, g.epilogue = &a.epilogue;
    const bool pointwise = a.kernel_h == 1 && a.kernel_w == 1 && a.stride_h == 1 && a.stride_w == 1 &&
                           a.pad_top == 0 && a.pad_left == 0 && a.out_h == a.in_h && a.out_w == a.in_w;
    if (pointwise) {
        Gemm<Arch>::run(g, [&](int64_t i, int64_t, const float ** pointers, int64_t) { pointers[0] = a.input + i * a.in_channels; });
        return;
    }
    if (a.in_channels >= kMinInPlaceRun) {
        const float * padding = a.pad_values ? a.pad_values : zeros(a.in_channels);
        Gemm<Arch>::run(g, [&, at = PixelCursor{a.out_h, a.out_w}](int64_t i, int64_t, const float ** pointers,
                                                                   int64_t stride) mutable {
            at.seek(i);
            const float * in = a.input + at.image * a.in_h * a.in_w * a.in_channels;
            for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
                const int64_t iy = at.oy * a.stride_h - a.pad_top + ky * a.dilation_h;
                for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
                    const int64_t ix = at.ox * a.stride_w - a.pad_left + kx * a.dilation_w;
                    const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
                    pointers[(ky * a.kernel_w + kx) * stride] = inside ? in + (iy * a.in_w + ix) * a.in_channels : padding;
                }
            }
        });
        return;
    }
    if (rgb_stem::applies<Arch>(a)) {
        with_act(a.epilogue, [&](auto act) {
            if (a.out_channels > static_cast<int64_t>(Vec<Arch>::size)) rgb_stem::run<Arch, act(), 2>(a);
            else rgb_stem::run<Arch, act(), 1>(a);
        });
        return;
    }
    // Few channels: one run per kernel row (kernel_w * in_channels floats, the taps of that row),
    // read in place where the window lies inside the input row, else gathered into a buffer. A
    // GEMM row's work here is a few dozen FMAs, so finding its pointers must cost far less: along
    // an output row, the windows that lie wholly inside the input follow each other one step
    // apart, and their pointers are the previous ones moved by that step. The geometry is copied
    // into locals (stores through `pointers` would make the compiler reload it).
    const int64_t cin = a.in_channels, run = a.kernel_w * cin, k = a.kernel_h * run;
    const int64_t buffer_size = Gemm<Arch>::chunk_rows(k) * k;
    const float * padding = zeros(run);
    if (a.pad_values) {  // kernel_w pixels of padding
        float * pixels = scratch_floats(Scratch::PadRun, run);
        for (int64_t kx = 0; kx < a.kernel_w; ++kx) std::memcpy(pixels + kx * cin, a.pad_values, cin * sizeof(float));
        padding = pixels;
    }
    g.segments = a.kernel_h, g.seg_len = run;
    const int64_t in_h = a.in_h, in_w = a.in_w, kernel_h = a.kernel_h, kernel_w = a.kernel_w, out_w = a.out_w;
    const int64_t stride_h = a.stride_h, stride_w = a.stride_w, pad_top = a.pad_top, pad_left = a.pad_left;
    const int64_t dilation_h = a.dilation_h, dilation_w = a.dilation_w;
    const int64_t row_elems = in_w * cin, ky_step = dilation_h * row_elems, pixel_step = stride_w * cin;
    // Output columns [0, inside_end_ox) have windows that do not pass the input's right edge.
    const int64_t inside_end_ox = std::clamp<int64_t>(
        in_w - kernel_w + pad_left < 0 ? 0 : (in_w - kernel_w + pad_left) / stride_w + 1, 0, out_w);
    Gemm<Arch>::run(g, [=, at = PixelCursor{a.out_h, a.out_w}, buffer = static_cast<float *>(nullptr),
                        last_inside = int64_t{-2}, inside_end = int64_t{0}, inside_at = static_cast<const float *>(nullptr)](
                           int64_t i, int64_t slot, const float ** pointers, int64_t stride) mutable {
        if (i == last_inside + 1 && i < inside_end) {  // the neighbour of an inside window
            last_inside = i;
            inside_at += pixel_step;
            for (int64_t ky = 0; ky < kernel_h; ++ky) pointers[ky * stride] = inside_at + ky * ky_step;
            return;
        }
        at.seek(i);
        const int64_t ix0 = at.ox * stride_w - pad_left;
        const int64_t iy0 = at.oy * stride_h - pad_top;
        const bool contiguous = dilation_w == 1 && ix0 >= 0 && ix0 + kernel_w <= in_w;
        bool inside = contiguous;
        // Offset of input row iy0 (it may lie in the padding: only rows inside are read).
        const int64_t first_row = (at.image * in_h + iy0) * row_elems;
        for (int64_t ky = 0, iy = iy0; ky < kernel_h; ++ky, iy += dilation_h) {
            if (iy < 0 || iy >= in_h) {
                pointers[ky * stride] = padding;
                inside = false;
                continue;
            }
            const float * in_row = a.input + first_row + ky * ky_step;
            if (contiguous) {
                pointers[ky * stride] = in_row + ix0 * cin;
            } else {
                if (!buffer) buffer = scratch_floats(Scratch::Rows, buffer_size);
                float * to = buffer + slot * k + ky * run;
                for (int64_t kx = 0; kx < kernel_w; ++kx) {
                    const int64_t ix = ix0 + kx * dilation_w;
                    copy_floats<Arch>(to + kx * cin, ix >= 0 && ix < in_w ? in_row + ix * cin : padding, cin);
                }
                pointers[ky * stride] = to;
            }
        }
        last_inside = inside ? i : -2;
        if (inside) inside_at = pointers[0], inside_end = i - at.ox + inside_end_ox;
    });
}

// ---------------------------------------------------------------------------------------------
// Depthwise convolution (depth multiplier 1), vectors along channels. An output row is computed in
// blocks of P pixels (up to 4 where every tap lies inside the input row, else 1); a block sweeps
// its channels [c_begin, c_end) one vector at a time, the P sums in registers (independent chains
// of FMAs), each tap's weight vector loaded once for the P pixels. Taps is the kernel size when
// fixed at compile time (3x3 or 5x5: the tap loops unrolled), 0 for any other. Stride is the
// horizontal stride when fixed at compile time (1 or 2, dilation 1), else 0: then a block inside
// the row loads each input vector of a kernel row once for all the pixels and taps that read it.
template <class Arch, Act A, int Taps, int Stride, int P>
void depthwise_block(const Conv2dArgs & a, const float * const * in_rows, int64_t ox, bool inside, int64_t c_begin,
                     int64_t c_end, float * out, const float * residual, const OutputWriter<Arch, A> & writer) {
    using V = Vec<Arch>;
    using W = OutputWriter<Arch, A>;
    constexpr int64_t lanes = V::size;
    constexpr int kSide = Taps == 9 ? 3 : Taps == 25 ? 5 : 0;
    const int64_t kh = kSide ? kSide : a.kernel_h, kw = kSide ? kSide : a.kernel_w;
    // Locals, so that the stores below do not make the compiler reload them.
    const int64_t channels = a.in_channels, pixel_step = a.stride_w * channels, tap_step = a.dilation_w * channels;
    const int64_t ix0 = ox * a.stride_w - a.pad_left, in_w = a.in_w, dilation = a.dilation_w;
    const float * const kernel = a.kernel;
    const float * const bias_values = a.bias;

    auto channel_vector = [&](int64_t c0, auto full) {
        constexpr bool Full = decltype(full)::value;
        const int64_t count = Full ? lanes : c_end - c0;
        auto load = [&](const float * p) { return W::template load<Full>(p, count); };
        V acc[P];
        const V bias = bias_values ? load(bias_values + c0) : V(0.f);
        for (int p = 0; p < P; ++p) acc[p] = bias;
        // Adds the taps of one kernel row to sums.
        auto add_row = [&](const float * row, const float * weights, V * sums) {
            if constexpr (kSide != 0 && Stride != 0) {
                if (inside) {
                    constexpr int kInputs = (P - 1) * Stride + kSide;
                    V in[kInputs];
                    for (int j = 0; j < kInputs; ++j) in[j] = load(row + j * channels);
                    for (int kx = 0; kx < kSide; ++kx) {
                        const V w = load(weights + kx * channels);
                        for (int p = 0; p < P; ++p) sums[p] = multiply_add<Arch>(in[p * Stride + kx], w, sums[p]);
                    }
                    return;
                }
            }
            for (int64_t kx = 0; kx < kw; ++kx) {
                if (!inside && (ix0 + kx * dilation < 0 || ix0 + kx * dilation >= in_w)) continue;
                const V w = load(weights + kx * channels);
                const float * tap = row + kx * tap_step;
                for (int p = 0; p < P; ++p) sums[p] = multiply_add<Arch>(load(tap + p * pixel_step), w, sums[p]);
            }
        };
        for (int64_t ky = 0; ky < kh; ++ky) {
            if (!in_rows[ky]) continue;  // the row lies in the padding
            const float * row = in_rows[ky] + ix0 * channels + c0;
            const float * weights = kernel + ky * kw * channels + c0;
            if constexpr (P == 1) {
                // One pixel: each kernel row summed apart, so that the rows' chains of dependent
                // FMAs overlap instead of forming one long chain.
                V row_sum(0.f);
                add_row(row, weights, &row_sum);
                acc[0] += row_sum;
            } else {
                add_row(row, weights, acc);
            }
        }
        for (int p = 0; p < P; ++p) {
            const int64_t at = (ox + p) * channels + c0;
            writer.template put<Full>(acc[p], out + at, residual ? residual + at : nullptr, count);
        }
    };
    int64_t c0 = c_begin;
    for (; c0 + lanes <= c_end; c0 += lanes) channel_vector(c0, std::true_type());
    if (c0 < c_end) channel_vector(c0, std::false_type());
}

// The L1 data cache a depthwise row may fill with input (32 KiB on Zen 3, 48 KiB on Zen 5).
constexpr int64_t kDepthwiseL1Bytes = 32 << 10;

// Channels [begin, end) of a depthwise convolution's output.
struct ChannelRange {
    int64_t begin = 0, end = 0;
};

// Channels `channels` of output row `row` (image * out_h + oy) of a depthwise convolution whose
// kernel row ky reads in_rows[ky] (the input row, null in the padding). With `margins`, the rows
// have zeros around them wherever a tap reads (RowMargins): every pixel is computed as one inside
// the row.
template <class Arch, Act A, int Taps, int Stride>
void depthwise_row(const Conv2dArgs & a, const float * const * in_rows, int64_t row, bool margins,
                   ChannelRange channels) {
    constexpr int kBlock = 4;
    const OutputWriter<Arch, A> writer(a.epilogue);
    const int64_t row_elems = a.out_w * a.in_channels;
    // Output pixels [ox_begin, ox_end) have every tap inside the input row (or its margins).
    int64_t ox_begin = 0, ox_end = a.out_w;
    if (!margins) {
        const InsideColumns inside(a);
        ox_begin = inside.begin, ox_end = inside.end;
    }
    float * out = a.output + row * row_elems;
    const float * residual = a.epilogue.residual ? a.epilogue.residual + row * row_elems : nullptr;
    // With many channels the input a block reads (kernel_h rows of a few pixels) outgrows L1: the
    // row's channels are then taken in chunks whose slices of the input rows stay in L1 while the
    // pixel blocks sweep the row. (Chunks of few channels cost more than they save otherwise.)
    constexpr int64_t lanes = Vec<Arch>::size;
    const int64_t block_floats = a.kernel_h * ((kBlock - 1) * a.stride_w + a.kernel_w) * a.in_channels;
    const int64_t row_pixels = a.kernel_h * (a.in_w + a.kernel_w);
    const int64_t chunk = block_floats * 4 <= kDepthwiseL1Bytes / 2
                              ? a.in_channels
                              : std::max(lanes, kDepthwiseL1Bytes / 4 / row_pixels / lanes * lanes);
    for (int64_t c_begin = channels.begin; c_begin < channels.end; c_begin += chunk) {
        const int64_t c_end = std::min(channels.end, c_begin + chunk);
        auto block = [&](auto pixels, int64_t ox, bool inside) {
            depthwise_block<Arch, A, Taps, Stride, decltype(pixels)::value>(a, in_rows, ox, inside, c_begin, c_end, out,
                                                                            residual, writer);
        };
        using One = std::integral_constant<int, 1>;
        int64_t ox = 0;
        for (; ox < ox_begin; ++ox) block(One(), ox, false);
        for (; ox + kBlock <= ox_end; ox += kBlock) block(std::integral_constant<int, kBlock>(), ox, true);
        // The rest as one block: a lone pixel's sums form one chain of FMAs, each waiting for the last.
        switch (ox_end - ox) {
        case 3: block(std::integral_constant<int, 3>(), ox, true); break;
        case 2: block(std::integral_constant<int, 2>(), ox, true); break;
        case 1: block(One(), ox, true); break;
        }
        for (ox = ox_end; ox < a.out_w; ++ox) block(One(), ox, false);
    }
    for (int64_t at = channels.begin; at < row_elems; at += a.in_channels)  // each pixel's channels
        writer.finish(out + at, residual ? residual + at : nullptr, channels.end - channels.begin);
}

using DepthwiseRowFn = void (*)(const Conv2dArgs &, const float * const *, int64_t, bool, ChannelRange);

// The depthwise_row for this convolution's epilogue, kernel size and stride.
template <class Arch>
DepthwiseRowFn depthwise_row_for(const Conv2dArgs & a) {
    const int64_t taps = a.kernel_h * a.kernel_w;
    const bool square = a.kernel_h == a.kernel_w;
    const int stride = a.dilation_w == 1 && (a.stride_w == 1 || a.stride_w == 2) ? static_cast<int>(a.stride_w) : 0;
    DepthwiseRowFn row = nullptr;
    with_act(a.epilogue, [&](auto act) {
        auto by_stride = [&](auto taps_constant) {
            constexpr int T = decltype(taps_constant)::value;
            return stride == 1 ? depthwise_row<Arch, act(), T, 1>
                   : stride == 2 ? depthwise_row<Arch, act(), T, 2>
                                 : depthwise_row<Arch, act(), T, 0>;
        };
        row = square && taps == 9    ? by_stride(std::integral_constant<int, 9>())
              : square && taps == 25 ? by_stride(std::integral_constant<int, 25>())
                                     : depthwise_row<Arch, act(), 0, 0>;
    });
    return row;
}

// The index of `value` among values[0, n), or n (a loop: no standard-library template here).
int64_t index_of(const int64_t * values, int64_t n, int64_t value) {
    int64_t i = 0;
    while (i < n && values[i] != value) ++i;
    return i;
}

// The widest output rows for which depthwise_conv2d copies its input rows with margins. Measured
// on AVX2 at stride 1, MobileNets at 224: the copy wins on rows of 28, 14 and 7 pixels (5x5: ~10%
// of those layers), is even at 56 (V2's 3x3 over 144 channels gains 6%, V3-Large's over 72 loses
// 12%) and loses at 112 (15%); at stride 2 it loses.
constexpr int64_t kMaxCopiedRowWidth = 32;

// The input row (image * in_h + iy) that kernel row ky of output row `row` (image * out_h + oy)
// of convolution a reads, or -1 where it lies in the padding.
int64_t input_row(const Conv2dArgs & a, int64_t row, int64_t ky) {
    const int64_t image = row / a.out_h, iy = row % a.out_h * a.stride_h - a.pad_top + ky * a.dilation_h;
    return iy >= 0 && iy < a.in_h ? image * a.in_h + iy : -1;
}

// The zero pixels a depthwise convolution's taps read left and right of its input rows.
struct RowMargins {
    int64_t left = 0, right = 0;
    explicit RowMargins(const Conv2dArgs & a)
        : left(std::max<int64_t>(0, a.pad_left)),
          right(std::max<int64_t>(0, (a.out_w - 1) * a.stride_w + (a.kernel_w - 1) * a.dilation_w + 1 - a.pad_left - a.in_w)) {}
    bool any() const { return left + right > 0; }
};

// Writes row r of a ring or halo slot with its margins: zeros, then produce(r, at) the row's
// values, then zeros.
template <class Produce>
void write_with_margins(const Conv2dArgs & d, const RowMargins & margins, int64_t r, float * slot,
                        const Produce & produce) {
    const int64_t channels = d.in_channels;
    std::memset(slot, 0, margins.left * channels * sizeof(float));
    produce(r, slot + margins.left * channels);
    std::memset(slot + (margins.left + d.in_w) * channels, 0, margins.right * channels * sizeof(float));
}

// Channels `range` of the output rows that next_rows() gives (UnitRanges, until an empty one) of
// depthwise convolution d, from a ring of kernel_h input rows held with their margins (RowMargins,
// zeros): produce(r, to) writes (at least those channels of) input row r (image * in_h + iy, in_w
// pixels) at `to` when an output row first reads it; it stays for the next output rows. Rows for
// which held_elsewhere(r) gives a pointer (to the row, past its left margin) are read there.
template <class NextRows, class Produce, class HeldElsewhere>
void depthwise_rows_from_ring(const Conv2dArgs & d, DepthwiseRowFn compute_row, Scratch scratch,
                              const NextRows & next_rows, ChannelRange range, const Produce & produce,
                              const HeldElsewhere & held_elsewhere) {
    const RowMargins margins(d);
    const int64_t kh = d.kernel_h, channels = d.in_channels;
    const int64_t slot_elems = (margins.left + d.in_w + margins.right) * channels;
    float * ring = scratch_floats(scratch, kh * slot_elems);
    int64_t held[kMaxExpandDepthwiseRows];  // the input row (image * in_h + iy) in each slot
    const float * in_rows[kMaxExpandDepthwiseRows];
    for (int64_t s = 0; s < kh; ++s) held[s] = -1;
    for (UnitRange rows; !(rows = next_rows()).empty();) {
        for (int64_t row = rows.begin; row < rows.end; ++row) {
            int64_t wanted[kMaxExpandDepthwiseRows];
            for (int64_t ky = 0; ky < kh; ++ky) wanted[ky] = input_row(d, row, ky);
            for (int64_t ky = 0; ky < kh; ++ky) {
                in_rows[ky] = nullptr;
                if (wanted[ky] < 0) continue;
                if ((in_rows[ky] = held_elsewhere(wanted[ky]))) continue;
                int64_t slot = index_of(held, kh, wanted[ky]);
                if (slot == kh) {  // not there: into a slot this output row does not read
                    slot = 0;
                    while (held[slot] >= 0 && index_of(wanted, kh, held[slot]) < kh) ++slot;
                    write_with_margins(d, margins, wanted[ky], ring + slot * slot_elems, produce);
                    held[slot] = wanted[ky];
                }
                in_rows[ky] = ring + slot * slot_elems + margins.left * channels;
            }
            compute_row(d, in_rows, row, true, range);
        }
    }
}

// For depthwise_rows_from_ring: every row in the ring.
const float * none_elsewhere(int64_t) { return nullptr; }

// The input rows that two neighbouring threads' shares of output rows both read (SharedUnits'
// initial shares; up to kernel_h - 1 rows at each boundary between shares), held in one buffer
// that all threads read, so that each is produced once: by the first thread to need it, the others
// waiting for it. Each thread first claims its half of the rows at both ends of its share. Produced
// in each thread's ring instead, they cost a row in eight of MobileNet's 14-row images at 2 threads.
class HaloRows {
public:
    // For `threads` threads sharing `rows` output rows (1: none, as where threads split channels).
    // The rows of one kernel are consecutive input rows only without dilation: else none.
    HaloRows(const Conv2dArgs & d, int threads, int64_t rows)
        : d_(d), margins_(d), slot_elems_((margins_.left + d.in_w + margins_.right) * d.in_channels),
          per_boundary_(d.kernel_h - 1), boundaries_(d.dilation_h == 1 ? threads - 1 : 0) {
        buffer_ = scratch_floats(Scratch::Halo, boundaries_ * per_boundary_ * slot_elems_);
        for (int b = 0; b < boundaries_; ++b) {
            // The first input row (not in the padding) that the first output row after the boundary
            // reads, and the last one that the output row before it reads: both read the rows
            // between (none where the two lie in different images).
            const int64_t below = rows * (b + 1) / threads;
            int64_t lo = -1, hi = -1;
            for (int64_t ky = 0; ky < d.kernel_h && lo < 0; ++ky) lo = input_row(d, below, ky);
            for (int64_t ky = d.kernel_h - 1; ky >= 0 && hi < 0; --ky) hi = input_row(d, below - 1, ky);
            if (lo >= 0 && hi >= lo) boundary_[b] = {lo, (lo + hi + 2) / 2, hi + 1};
            for (int64_t i = 0; i < per_boundary_; ++i) state_[b * per_boundary_ + i].store(kFree);
        }
    }
    // Produces the rows at the two ends of thread t's share that are its to produce.
    template <class Produce>
    void claim_own(int t, const Produce & produce) {
        if (t > 0 && t <= boundaries_)
            for (int64_t r = boundary_[t - 1].mid; r < boundary_[t - 1].hi; ++r) get(r, produce);
        if (t < boundaries_)
            for (int64_t r = boundary_[t].lo; r < boundary_[t].mid; ++r) get(r, produce);
    }
    // Input row r past its left margin, produced first if no thread has claimed it; nullptr if it
    // is not a row read across a boundary.
    template <class Produce>
    const float * get(int64_t r, const Produce & produce) {
        for (int b = 0; b < boundaries_; ++b) {
            const Boundary & boundary = boundary_[b];
            if (r < boundary.lo || r >= boundary.hi) continue;
            const int64_t index = b * per_boundary_ + (r - boundary.lo);
            float * slot = buffer_ + index * slot_elems_;
            int expected = kFree;
            if (state_[index].compare_exchange_strong(expected, kBusy, std::memory_order_relaxed)) {
                write_with_margins(d_, margins_, r, slot, produce);
                state_[index].store(kDone, std::memory_order_release);
            } else {
                while (state_[index].load(std::memory_order_acquire) != kDone) pause();
            }
            return slot + margins_.left * d_.in_channels;
        }
        return nullptr;
    }

private:
    enum { kFree, kBusy, kDone };
    static void pause() {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#endif
    }
    // Input rows [lo, hi) are read on both sides of a boundary; the thread before it produces
    // [lo, mid), the thread after it [mid, hi).
    struct Boundary {
        int64_t lo = 0, mid = 0, hi = 0;
    };
    const Conv2dArgs & d_;
    RowMargins margins_;
    int64_t slot_elems_, per_boundary_;
    int boundaries_;
    float * buffer_;
    Boundary boundary_[kMaxThreads];
    std::atomic<int> state_[kMaxThreads * (kMaxExpandDepthwiseRows - 1)];
};

template <class Arch>
void depthwise_conv2d(const DepthwiseConv2dArgs & d) {
    const Conv2dArgs & a = d.geometry;
    if (d.depth_multiplier != 1) return threaded::depthwise_conv2d(d);
    const int64_t rows = a.batch * a.out_h, in_row_elems = a.in_w * a.in_channels;
    const int threads = threads_for(rows * a.out_w * a.in_channels * a.kernel_h * a.kernel_w, rows);
    const DepthwiseRowFn compute_row = depthwise_row_for<Arch>(a);
    // Rows with margins turn the pixels at the borders, one at a time with a test per tap, into
    // inside ones, in blocks of 4: worth a copy of each input row when they are many (narrow rows).
    const bool copy_rows = RowMargins(a).any() && a.stride_w == 1 && a.out_w <= kMaxCopiedRowWidth &&
                           a.kernel_h <= kMaxExpandDepthwiseRows;
    SharedUnits units(threads, rows);  // output rows
    run_parallel(threads, [&](int t, int) {
        if (copy_rows) {
            depthwise_rows_from_ring(
                a, compute_row, Scratch::PaddedRows, [&] { return units.take(t, 1, a.kernel_h); }, {0, a.in_channels},
                [&](int64_t r, float * to) { copy_floats<Arch>(to, a.input + r * in_row_elems, in_row_elems); },
                none_elsewhere);
            return;
        }
        const float ** in_rows = scratch_pointers(a.kernel_h);
        for (UnitRange u; !(u = units.take(t, 1)).empty();) {
            for (int64_t row = u.begin; row < u.end; ++row) {
                for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
                    const int64_t r = input_row(a, row, ky);
                    in_rows[ky] = r >= 0 ? a.input + r * in_row_elems : nullptr;
                }
                compute_row(a, in_rows, row, false, {0, a.in_channels});
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// A 1x1 expansion and the depthwise convolution after it (Kernels::expand_depthwise). When the
// expanded image is large, each thread takes a range of output rows and keeps the expanded input
// rows they read in a ring of kernel_h rows (depthwise_rows_from_ring): an expanded row is computed
// (a GEMM over its pixels) when an output row first needs it, and stays in cache for the next
// output rows (rows that two threads' ranges both read are computed once: HaloRows). A smaller
// one stays in cache anyway, and the GEMM on all its pixels at once reads its weights only once:
// it is expanded whole, into a buffer. Where "smaller" ends was measured
// on MobileNetV2 1.0 and V3-Large at 224 on the two machines krun was tuned on: with AVX2 (Zen 3,
// 512 KiB L2), row by row wins on 112x112x96 (4.6 MiB), is even on 56x56x144 (1.7 MiB) and loses
// on the smaller ones; with AVX-512 (Zen 5, 1 MiB L2) it also wins on 56x56x144 down to 14x14x384
// (294 KiB; each 5-10% faster, the models 2-3%) and, with cache-line aligned buffers, on 7x7x960
// (188 KiB; ~10%); below, even.
template <class Arch>
constexpr int64_t kRowWiseMinBytes = Vec<Arch>::size == 16 ? int64_t{128} << 10 : int64_t{2} << 20;

// Expanded row `in_row` (in_w pixels) into `out_row`: the output channels of GEMM panels
// [panel_begin, panel_end).
template <class Arch, Act A>
void expand_row(const Conv2dArgs & e, const float * in_row, float * out_row, int64_t panel_begin, int64_t panel_end) {
    typename Gemm<Arch>::Problem g;
    g.m = e.in_w, g.n = e.out_channels, g.seg_len = e.in_channels;
    g.b = e.kernel, g.ldb = e.out_channels, g.packed = e.packed;
    g.bias = e.bias, g.c = out_row, g.ldc = e.out_channels, g.epilogue = &e.epilogue;
    const int64_t cin = e.in_channels;
    Gemm<Arch>::template run_block<A>(
        g, [&](int64_t i, int64_t, const float ** pointers, int64_t) { pointers[0] = in_row + i * cin; }, 0, g.m,
        panel_begin, panel_end);
}

template <class Arch>
void expand_depthwise(const Conv2dArgs & e, const DepthwiseConv2dArgs & dw) {
    const Conv2dArgs & d = dw.geometry;
    const int64_t rows = d.batch * d.out_h;
    const int64_t work = rows * d.out_w * d.in_channels * (d.kernel_h * d.kernel_w + e.in_channels);
    const int threads = threads_for(work, rows);
    // Row by row, threads take output rows; where a few rows do not divide evenly (7), which would
    // leave a thread idle for a row's time, more than the ring saves, they take the expanded
    // channels (by GEMM panels) if those divide evenly, else the image is expanded whole. At 2
    // threads (Zen 5) channels made MobileNetV2's and V3-Large's 7x7x960 13% faster than whole,
    // but where rows balance (14x14 to 56x56) 10-50% slower than rows, and the projections
    // reading them too: rows keep each thread on the rows it wrote in the layer before and
    // will read in the layer after.
    constexpr int64_t kPanel = Gemm<Arch>::kPanel;
    const int64_t panels = (e.out_channels + kPanel - 1) / kPanel;
    const bool rows_balance = rows % threads == 0 || rows >= 8 * threads;
    const bool split_channels = !rows_balance && (panels % threads == 0 || panels >= 8 * threads);
    if (e.in_h * e.in_w * e.out_channels * int64_t{sizeof(float)} < kRowWiseMinBytes<Arch> ||
        (!rows_balance && !split_channels)) {
        Conv2dArgs whole = e;
        whole.output = scratch_floats(Scratch::Ring, e.batch * e.out_h * e.out_w * e.out_channels);
        conv2d<Arch>(whole);
        DepthwiseConv2dArgs d = dw;
        d.geometry.input = whole.output;
        depthwise_conv2d<Arch>(d);
        return;
    }
    void (*expand)(const Conv2dArgs &, const float *, float *, int64_t, int64_t) = nullptr;
    with_act(e.epilogue, [&](auto act) { expand = expand_row<Arch, act()>; });
    const DepthwiseRowFn compute_row = depthwise_row_for<Arch>(d);
    SharedUnits units(threads, rows);  // output rows, where threads split them
    HaloRows halo(d, split_channels ? 1 : threads, rows);
    run_parallel(threads, [&](int t, int count) {
        ChannelRange channels{0, e.out_channels};
        if (split_channels)
            channels = {panels * t / count * kPanel, std::min(e.out_channels, panels * (t + 1) / count * kPanel)};
        auto produce = [&](int64_t r, float * to) {
            expand(e, e.input + r * e.in_w * e.in_channels, to, channels.begin / kPanel,
                   (channels.end + kPanel - 1) / kPanel);
        };
        UnitRange all_rows{0, rows};  // each thread's, once, where threads split the channels
        auto next_rows = [&] { return split_channels ? std::exchange(all_rows, {}) : units.take(t, 1, d.kernel_h); };
        halo.claim_own(t, produce);
        depthwise_rows_from_ring(d, compute_row, Scratch::Ring, next_rows, channels, produce,
                                 [&](int64_t r) { return halo.get(r, produce); });
    });
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels: y[i] = f(i) over [0, n), load(i, count) giving the operand vectors (count
// elements, a partial vector at the end), split into per-thread slices when long.
template <class Arch, class Compute>
void elementwise(float * y, int64_t n, const Compute & compute) {
    constexpr int64_t lanes = Vec<Arch>::size;
    const int threads = threads_for(n * 4, (n + lanes - 1) / lanes);
    run_parallel(threads, [&](int t, int count) {
        const int64_t begin = (n * t / count) / lanes * lanes;
        const int64_t end = t + 1 == count ? n : (n * (t + 1) / count) / lanes * lanes;
        int64_t i = begin;
        for (; i + lanes <= end; i += lanes) compute(i, lanes).store_unaligned(y + i);
        if (i < end) store_n<Arch>(y + i, compute(i, end - i), end - i);
    });
}

// An operand read element by element, or one value broadcast.
template <class Arch>
auto stream(const float * p) {
    return [p](int64_t i, int64_t count) { return load_n<Arch>(p + i, count); };
}
template <class Arch>
auto broadcast(const float * p) {
    const Vec<Arch> value(*p);
    return [value](int64_t, int64_t) { return value; };
}

template <class Arch>
void unary(const UnaryArgs & f, const float * x, float * y, int64_t n) {
    if (!has_vector_form(f.op)) return ref::unary(f, x, y, n);
    elementwise<Arch>(y, n, [&](int64_t i, int64_t count) { return activate<Arch>(f, load_n<Arch>(x + i, count)); });
}

template <class Arch, class Op>
void binary_with(const Op & op, const float * a, int64_t a_step, const float * b, int64_t b_step, float * y, int64_t n) {
    auto run = [&](auto u, auto v) { elementwise<Arch>(y, n, [&](int64_t i, int64_t count) { return op(u(i, count), v(i, count)); }); };
    if (a_step && b_step) run(stream<Arch>(a), stream<Arch>(b));
    else if (a_step) run(stream<Arch>(a), broadcast<Arch>(b));
    else if (b_step) run(broadcast<Arch>(a), stream<Arch>(b));
    else run(broadcast<Arch>(a), broadcast<Arch>(b));
}

template <class Arch>
void binary(Binary op, const float * a, int64_t a_step, const float * b, int64_t b_step, float * y, int64_t n) {
    using V = Vec<Arch>;
    switch (op) {
    case Binary::Add: return binary_with<Arch>([](V u, V v) { return u + v; }, a, a_step, b, b_step, y, n);
    case Binary::Subtract: return binary_with<Arch>([](V u, V v) { return u - v; }, a, a_step, b, b_step, y, n);
    case Binary::Multiply: return binary_with<Arch>([](V u, V v) { return u * v; }, a, a_step, b, b_step, y, n);
    case Binary::Divide: return binary_with<Arch>([](V u, V v) { return u / v; }, a, a_step, b, b_step, y, n);
    default: return ref::binary(op, a, a_step, b, b_step, y, n);
    }
}

// Pooling, vectors along channels; the same sums and comparisons in the same order as the
// reference, so the results are identical.
template <class Arch>
void pool2d(const Pool2dArgs & p) {
    using V = Vec<Arch>;
    constexpr int64_t lanes = V::size;
    const int64_t rows = p.batch * p.out_h;
    const int threads = threads_for(rows * p.out_w * p.channels * p.pool_h * p.pool_w, rows);
    run_parallel(threads, [&](int t, int count) {
        for (int64_t row = rows * t / count; row < rows * (t + 1) / count; ++row) {
            const int64_t image = row / p.out_h, oy = row % p.out_h;
            const int64_t y0 = std::max<int64_t>(0, oy * p.stride_h - p.pad_top);
            const int64_t y1 = std::min(p.in_h, oy * p.stride_h - p.pad_top + p.pool_h);
            const float * in = p.input + image * p.in_h * p.in_w * p.channels;
            float * out = p.output + row * p.out_w * p.channels;
            for (int64_t ox = 0; ox < p.out_w; ++ox) {
                const int64_t x0 = std::max<int64_t>(0, ox * p.stride_w - p.pad_left);
                const int64_t x1 = std::min(p.in_w, ox * p.stride_w - p.pad_left + p.pool_w);
                const float cells = static_cast<float>(std::max<int64_t>(0, y1 - y0) * std::max<int64_t>(0, x1 - x0));
                // Channels [c0, c0 + B * lanes), n lanes of each vector: B independent chains of
                // adds or comparisons (a global pooling's window is long), each channel's in the
                // reference's order.
                auto pool = [&](auto vectors, int64_t c0, int64_t n) {
                    constexpr int B = decltype(vectors)::value;
                    V best[B], sum[B];
                    for (int j = 0; j < B; ++j) best[j] = V(-std::numeric_limits<float>::infinity()), sum[j] = V(0.f);
                    for (int64_t iy = y0; iy < y1; ++iy)
                        for (int64_t ix = x0; ix < x1; ++ix) {
                            const float * pixel = in + (iy * p.in_w + ix) * p.channels + c0;
                            for (int j = 0; j < B; ++j) {
                                const V v = load_n<Arch>(pixel + j * lanes, n);
                                if (p.is_max) best[j] = xsimd::select(v > best[j] || v != v, v, best[j]);  // NaN stays
                                else sum[j] += v;
                            }
                        }
                    for (int j = 0; j < B; ++j)
                        store_n<Arch>(out + ox * p.channels + c0 + j * lanes, p.is_max ? best[j] : sum[j] / V(cells), n);
                };
                constexpr int kChains = 4;
                int64_t c0 = 0;
                for (; c0 + kChains * lanes <= p.channels; c0 += kChains * lanes)
                    pool(std::integral_constant<int, kChains>(), c0, lanes);
                for (; c0 < p.channels; c0 += lanes)
                    pool(std::integral_constant<int, 1>(), c0, std::min(lanes, p.channels - c0));
            }
        }
    });
}

template <class Arch>
const Kernels & simd_table(const char * name) {
    static const Kernels table{name, gemm<Arch>, conv2d<Arch>, depthwise_conv2d<Arch>, pool2d<Arch>,
                               unary<Arch>, binary<Arch>, ref::softmax, ref::conv2d_transpose,
                               ref::resize_bilinear, Gemm<Arch>::packed_b_size, Gemm<Arch>::pack_b,
                               expand_depthwise<Arch>};
    return table;
}

}  // namespace
}  // namespace krun::fast
