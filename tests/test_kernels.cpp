// Fast kernel tables against the reference, for every SIMD table this CPU can run (and the one
// kernels_fast() picked), with 1, 2 and 3 threads, on awkward sizes: extents that are not
// multiples of any vector width, stride 2, dilation 2, SAME/VALID and asymmetric padding,
// batch > 1, every epilogue activation with and without residual, packed and unpacked weights.
//
// Sums (gemm, conv2d, depthwise_conv2d) may differ from the reference by rounding only: FMA and
// another summation order. The allowed error of each element is relative to its magnitude, the
// same kernel run by the reference on the absolute values of its operands (sum of |a*b| + |bias|).
// Element-wise kernels use the reference's arithmetic and must be identical.
#include <catch2/catch.hpp>

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/fast/fast.h"
#include "kernels/kernels.h"
#include "support/tolerance.h"

namespace {

using krun::Unary;

std::vector<float> random_values(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> v(n);
    for (float & x : v) x = dist(rng);
    return v;
}

std::vector<float> absolute(std::vector<float> v) {
    for (float & x : v) x = std::fabs(x);
    return v;
}

// The tables under test: each compiled SIMD table the CPU supports, then kernels_fast() itself.
std::vector<const krun::Kernels *> fast_tables() {
    std::vector<const krun::Kernels *> tables = krun::fast::supported_tables();
    tables.push_back(&krun::kernels_fast());
    return tables;
}

// Epilogue activations, cycled through the cases: every vectorised one and one that is not
// (Gelu: the reference's unary on the stored tile).
const krun::UnaryArgs kActivations[] = {
    {Unary::Linear}, {Unary::Relu}, {Unary::Relu6}, {Unary::HardSigmoidKeras2}, {Unary::HardSigmoidKeras3},
    {Unary::HardSilu}, {Unary::LeakyRelu, 0.1f}, {Unary::HardTanh}, {Unary::Sigmoid}, {Unary::Tanh},
    {Unary::Swish}, {Unary::ScaleShift, 0.0078431377f, -1.f}, {Unary::Gelu},
};

// Activations whose fast form computes exp or tanh its own way: close to the reference, not equal.
bool transcendental(Unary op) { return op == Unary::Sigmoid || op == Unary::Tanh || op == Unary::Swish; }
constexpr int kActivationCount = sizeof(kActivations) / sizeof(kActivations[0]);

// Checks fast against ref element by element: |fast - ref| <= bound * (magnitude + |residual|),
// bound from the number of terms of each sum, plus the transcendental tolerance of an epilogue
// activation computed with another exp or tanh.
void check_sums(const std::vector<float> & fast, const std::vector<float> & ref, const std::vector<float> & magnitude,
                const float * residual, int64_t terms, Unary activation) {
    REQUIRE(fast.size() == ref.size());
    const double bound = krun::test::kFastSumRtolPerTerm * static_cast<double>(terms + 2);
    const bool approximate = transcendental(activation);
    int64_t bad = 0;
    size_t first_bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double scale = magnitude[i] + (residual ? std::fabs(residual[i]) : 0.f);
        const double activation_error =
            approximate ? krun::test::kFastTranscendentalAtol + krun::test::kFastTranscendentalRtol * std::fabs(ref[i]) : 0;
        const bool ok = std::fabs(double(fast[i]) - double(ref[i])) <= bound * scale + activation_error;
        if (!ok && bad++ == 0) first_bad = i;
    }
    INFO("element " << first_bad << ": fast " << fast[first_bad] << " reference " << ref[first_bad] << " magnitude "
                    << magnitude[first_bad]);
    CHECK(bad == 0);
}

// Packs weights with the table's pack_b into a buffer of packed_b_size floats plus a guard that
// pack_b must not write.
std::vector<float> pack(const krun::Kernels & table, const std::vector<float> & b, int64_t k, int64_t n) {
    const int64_t size = table.packed_b_size(k, n);
    std::vector<float> packed(size + 16, 1234.f);
    table.pack_b(b.data(), k, n, nullptr, packed.data());
    for (int64_t i = size; i < size + 16; ++i) REQUIRE(packed[i] == 1234.f);
    packed.resize(size);
    return packed;
}

struct ConvCase {
    int64_t batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, dilation;
    krun::Padding padding;
};
const ConvCase kConvCases[] = {
    {1, 17, 13, 5, 8, 3, 3, 1, 1, krun::Padding::Same},     {2, 15, 11, 6, 9, 3, 3, 2, 1, krun::Padding::Valid},
    {3, 9, 21, 4, 33, 2, 2, 1, 2, krun::Padding::Same},     {1, 33, 7, 3, 16, 5, 5, 2, 1, krun::Padding::Same},
    {2, 2, 40, 8, 8, 1, 1, 1, 1, krun::Padding::Valid},     {2, 31, 29, 17, 40, 3, 3, 2, 1, krun::Padding::Same},
    {1, 12, 12, 31, 17, 1, 1, 2, 1, krun::Padding::Valid},  {1, 10, 9, 33, 31, 3, 1, 1, 1, krun::Padding::Same},
    {2, 24, 24, 3, 32, 3, 3, 2, 1, krun::Padding::Same},    {1, 14, 14, 96, 100, 1, 1, 1, 1, krun::Padding::Same},
    {1, 11, 11, 7, 5, 7, 7, 1, 1, krun::Padding::Same},     {1, 20, 18, 16, 3, 3, 3, 1, 2, krun::Padding::Valid},
    {1, 13, 16, 40, 24, 5, 5, 1, 1, krun::Padding::Same},
    // a narrow last panel (packed by pairs of rows with AVX-512) after a whole one, read in runs of
    // odd length (kernel rows of 5 channels; taps of 17)
    {1, 9, 11, 5, 60, 3, 3, 1, 1, krun::Padding::Same},     {1, 8, 8, 17, 64, 3, 3, 1, 1, krun::Padding::Same},
    // rows wider than depthwise_conv2d copies with margins: borders computed pixel by pixel
    {1, 5, 37, 12, 8, 3, 3, 1, 1, krun::Padding::Same},     {2, 4, 36, 9, 7, 5, 5, 1, 1, krun::Padding::Same},
    // RGB stems (3 channels, 3x3, stride 2; with AVX-512 conv2d's blocks of pixels): one or two
    // vectors of outputs, whole or partial; borders on both sides; rows with fewer pixels than a
    // block, and rows whose last block overlaps the one before
    {2, 23, 37, 3, 16, 3, 3, 2, 1, krun::Padding::Same},    {1, 19, 9, 3, 24, 3, 3, 2, 1, krun::Padding::Same},
    {1, 16, 30, 3, 5, 3, 3, 2, 1, krun::Padding::Valid},    {3, 8, 29, 3, 32, 3, 3, 2, 1, krun::Padding::Valid},
};

krun::Conv2dArgs geometry(const ConvCase & c, int64_t out_channels) {
    krun::Conv2dArgs a;
    a.batch = c.batch, a.in_h = c.in_h, a.in_w = c.in_w, a.in_channels = c.in_c, a.out_channels = out_channels;
    a.kernel_h = c.kernel_h, a.kernel_w = c.kernel_w, a.stride_h = a.stride_w = c.stride;
    a.dilation_h = a.dilation_w = c.dilation;
    const krun::AxisWindow rows = krun::axis_window(c.in_h, c.kernel_h, c.stride, c.dilation, c.padding);
    const krun::AxisWindow cols = krun::axis_window(c.in_w, c.kernel_w, c.stride, c.dilation, c.padding);
    a.out_h = rows.out, a.pad_top = rows.pad_before, a.out_w = cols.out, a.pad_left = cols.pad_before;
    return a;
}

std::string describe(const ConvCase & c) {
    return "in " + std::to_string(c.batch) + "x" + std::to_string(c.in_h) + "x" + std::to_string(c.in_w) + "x" +
           std::to_string(c.in_c) + " kernel " + std::to_string(c.kernel_h) + "x" + std::to_string(c.kernel_w) +
           " stride " + std::to_string(c.stride) + " dilation " + std::to_string(c.dilation) +
           (c.padding == krun::Padding::Same ? " same" : " valid");
}

}  // namespace

TEST_CASE("kernels: kernels_fast() is the best SIMD table the CPU supports", "[kernels]") {
    const std::vector<const krun::Kernels *> tables = krun::fast::supported_tables();
    if (tables.empty()) return;  // not an x86-64 build: the threaded reference
    if (std::getenv("KRUN_KERNELS") == nullptr) CHECK(std::strcmp(krun::kernels_fast().name, tables.front()->name) == 0);
}

TEST_CASE("kernels: pack_b with a column scale packs each column times its scale", "[kernels]") {
    std::vector<const krun::Kernels *> tables = fast_tables();
    tables.push_back(&krun::kernels_ref());
    for (const krun::Kernels * table : tables)
        for (int64_t n : {1, 7, 16, 24, 33})
            for (int64_t k : {5, 17}) {  // 17: fast tables pack narrow B by pairs of rows
                INFO(table->name << " n " << n << " k " << k);
                const std::vector<float> b = random_values(k * n, 5);
                std::vector<double> scale(n);
                for (int64_t j = 0; j < n; ++j) scale[j] = 0.5 + 0.37 * j;
                std::vector<float> scaled(b.size());
                for (int64_t i = 0; i < k * n; ++i) scaled[i] = static_cast<float>(b[i] * scale[i % n]);
                std::vector<float> packed(table->packed_b_size(k, n)), expected(packed.size());
                table->pack_b(b.data(), k, n, scale.data(), packed.data());
                table->pack_b(scaled.data(), k, n, nullptr, expected.data());
                CHECK(packed == expected);
            }
}

TEST_CASE("kernels: fast gemm equals the reference up to rounding", "[kernels]") {
    const krun::Kernels & ref = krun::kernels_ref();
    int index = 0;
    struct Shape {
        int64_t m, n, k;
    };
    std::vector<Shape> shapes;
    for (int64_t m : {1, 3, 17, 100})
        for (int64_t n : {1, 3, 17, 24, 31, 33, 100})
            for (int64_t k : {1, 17, 300}) shapes.push_back({m, n, k});
    shapes.push_back({257, 70, 129});  // large enough to be split by rows
    shapes.push_back({2, 1000, 600});  // few rows, split by panels (Dense at batch 2)
    shapes.push_back({49, 160, 37});   // split by panels, the last one narrower
    shapes.push_back({5, 40, 0});      // k = 0: C = bias
    for (const krun::Kernels * fast : fast_tables())
        for (int threads : {1, 2, 3})
            for (const Shape & s : shapes)
                for (bool packed : {false, true}) {
                    omp_set_num_threads(threads);
                    ++index;
                    const krun::UnaryArgs activation = kActivations[index % kActivationCount];
                    const bool with_residual = index % 2 == 1, accumulate = index % 3 == 0, with_bias = index % 5 != 0;
                    // Leading dimensions larger than the extents, so that rows do not touch.
                    const int64_t lda = s.k + 3, ldb = s.n + 2, ldc = s.n + 1;
                    INFO(fast->name << " gemm m " << s.m << " n " << s.n << " k " << s.k << " packed " << packed
                                    << " activation " << int(activation.op) << " residual " << with_residual
                                    << " accumulate " << accumulate << " bias " << with_bias << " threads " << threads);
                    auto a = random_values(s.m * lda, 1);
                    const auto b = random_values(std::max<int64_t>(s.k, 1) * ldb, 2);
                    // Elements between rows of A are not operands: NaN there would show in C if read.
                    for (int64_t i = 0; i < s.m; ++i)
                        for (int64_t p = s.k; p < lda; ++p) a[i * lda + p] = std::numeric_limits<float>::quiet_NaN();
                    const auto bias = random_values(s.n, 3), residual = random_values(s.m * ldc, 4);
                    const auto c_start = random_values(s.m * ldc, 5);
                    krun::GemmArgs g;
                    g.m = s.m, g.n = s.n, g.k = s.k, g.a = a.data(), g.lda = lda, g.b = b.data(), g.ldb = ldb, g.ldc = ldc;
                    g.bias = with_bias ? bias.data() : nullptr;
                    g.accumulate = accumulate;
                    g.epilogue.activation = activation;
                    g.epilogue.residual = with_residual ? residual.data() : nullptr;
                    std::vector<float> c_ref = c_start, c_fast = c_start;
                    g.c = c_ref.data();
                    ref.gemm(g);

                    // Magnitude: the reference sum of absolute values, no epilogue.
                    const auto abs_a = absolute(a), abs_b = absolute(b), abs_bias = absolute(bias);
                    std::vector<float> magnitude = absolute(c_start);
                    krun::GemmArgs m = g;
                    m.a = abs_a.data(), m.b = abs_b.data(), m.bias = with_bias ? abs_bias.data() : nullptr;
                    m.c = magnitude.data(), m.epilogue = {};
                    ref.gemm(m);

                    std::vector<float> packed_b;
                    if (packed) {
                        // pack_b reads a dense [k x n] matrix.
                        std::vector<float> dense(s.k * s.n);
                        for (int64_t p = 0; p < s.k; ++p)
                            for (int64_t j = 0; j < s.n; ++j) dense[p * s.n + j] = b[p * ldb + j];
                        packed_b = pack(*fast, dense, s.k, s.n);
                        g.b = packed_b.data(), g.packed = true, g.ldb = 0;
                    }
                    g.c = c_fast.data();
                    fast->gemm(g);
                    check_sums(c_fast, c_ref, magnitude, g.epilogue.residual, s.k + (accumulate ? 1 : 0), activation.op);
                    // Elements between rows (ldc > n) are not outputs and stay untouched.
                    for (int64_t i = 0; i < s.m; ++i)
                        for (int64_t j = s.n; j < ldc; ++j) REQUIRE(c_fast[i * ldc + j] == c_start[i * ldc + j]);
                }
    omp_set_num_threads(omp_get_num_procs());
}

TEST_CASE("kernels: fast conv2d and depthwise_conv2d equal the reference up to rounding", "[kernels]") {
    const krun::Kernels & ref = krun::kernels_ref();
    int index = 0;
    for (const krun::Kernels * fast : fast_tables())
        for (int threads : {1, 2, 3})
            for (const ConvCase & c : kConvCases) {
                omp_set_num_threads(threads);
                ++index;
                const krun::UnaryArgs activation = kActivations[index % kActivationCount];
                const bool with_residual = index % 2 == 1;
                const bool with_pad_values = index % 3 != 0;  // padding that reads values, not zeros
                const auto input = random_values(c.batch * c.in_h * c.in_w * c.in_c, 4);
                const auto abs_input = absolute(input);
                const auto pad_values = random_values(c.in_c, 8), abs_pad_values = absolute(pad_values);

                for (bool packed : {false, true}) {
                    INFO(fast->name << " conv2d " << describe(c) << " out_c " << c.out_c << " packed " << packed
                                    << " activation " << int(activation.op) << " residual " << with_residual
                                    << " pad values " << with_pad_values << " threads " << threads);
                    krun::Conv2dArgs a = geometry(c, c.out_c);
                    const int64_t k = c.kernel_h * c.kernel_w * c.in_c;
                    const auto kernel = random_values(k * c.out_c, 5), bias = random_values(c.out_c, 6);
                    const size_t out_size = a.batch * a.out_h * a.out_w * c.out_c;
                    const auto residual = random_values(out_size, 7);
                    std::vector<float> out_ref(out_size), out_fast(out_size, 99.f), magnitude(out_size);
                    a.input = input.data(), a.kernel = kernel.data(), a.bias = bias.data();
                    a.epilogue.activation = activation;
                    a.epilogue.residual = with_residual ? residual.data() : nullptr;
                    a.pad_values = with_pad_values ? pad_values.data() : nullptr;
                    a.output = out_ref.data();
                    ref.conv2d(a);

                    const auto abs_kernel = absolute(kernel), abs_bias = absolute(bias);
                    krun::Conv2dArgs m = a;
                    m.input = abs_input.data(), m.kernel = abs_kernel.data(), m.bias = abs_bias.data();
                    m.pad_values = with_pad_values ? abs_pad_values.data() : nullptr;
                    m.epilogue = {}, m.output = magnitude.data();
                    ref.conv2d(m);

                    std::vector<float> packed_kernel;
                    if (packed) {
                        packed_kernel = pack(*fast, kernel, k, c.out_c);
                        a.kernel = packed_kernel.data(), a.packed = true;
                    }
                    a.output = out_fast.data();
                    fast->conv2d(a);
                    check_sums(out_fast, out_ref, magnitude, a.epilogue.residual, k, activation.op);
                }

                for (int64_t depth_multiplier : {1, 2}) {
                    INFO(fast->name << " depthwise_conv2d " << describe(c) << " depth_multiplier " << depth_multiplier
                                    << " activation " << int(activation.op) << " residual " << with_residual
                                    << " threads " << threads);
                    krun::DepthwiseConv2dArgs d;
                    d.depth_multiplier = depth_multiplier;
                    d.geometry = geometry(c, c.in_c * depth_multiplier);
                    krun::Conv2dArgs & a = d.geometry;
                    const int64_t out_c = c.in_c * depth_multiplier;
                    const auto kernel = random_values(c.kernel_h * c.kernel_w * out_c, 8), bias = random_values(out_c, 9);
                    const size_t out_size = a.batch * a.out_h * a.out_w * out_c;
                    const auto residual = random_values(out_size, 10);
                    std::vector<float> out_ref(out_size), out_fast(out_size, 99.f), magnitude(out_size);
                    a.input = input.data(), a.kernel = kernel.data(), a.bias = index % 3 ? bias.data() : nullptr;
                    a.epilogue.activation = activation;
                    a.epilogue.residual = with_residual ? residual.data() : nullptr;
                    a.output = out_ref.data();
                    ref.depthwise_conv2d(d);

                    const auto abs_kernel = absolute(kernel), abs_bias = absolute(bias);
                    krun::DepthwiseConv2dArgs m = d;
                    m.geometry.input = abs_input.data(), m.geometry.kernel = abs_kernel.data();
                    m.geometry.bias = a.bias ? abs_bias.data() : nullptr;
                    m.geometry.epilogue = {}, m.geometry.output = magnitude.data();
                    ref.depthwise_conv2d(m);

                    a.output = out_fast.data();
                    fast->depthwise_conv2d(d);
                    check_sums(out_fast, out_ref, magnitude, a.epilogue.residual, c.kernel_h * c.kernel_w, activation.op);
                }

                for (bool is_max : {true, false}) {
                    INFO(fast->name << " pool2d " << describe(c) << " max " << is_max << " threads " << threads);
                    krun::Pool2dArgs p;
                    p.batch = c.batch, p.in_h = c.in_h, p.in_w = c.in_w, p.channels = c.in_c;
                    p.pool_h = c.kernel_h, p.pool_w = c.kernel_w, p.stride_h = p.stride_w = c.stride;
                    const krun::AxisWindow rows = krun::axis_window(c.in_h, c.kernel_h, c.stride, 1, c.padding);
                    const krun::AxisWindow cols = krun::axis_window(c.in_w, c.kernel_w, c.stride, 1, c.padding);
                    p.out_h = rows.out, p.pad_top = rows.pad_before, p.out_w = cols.out, p.pad_left = cols.pad_before;
                    p.is_max = is_max;
                    p.input = input.data();
                    std::vector<float> pool_ref(p.batch * p.out_h * p.out_w * p.channels), pool_fast(pool_ref.size());
                    p.output = pool_ref.data();
                    ref.pool2d(p);
                    p.output = pool_fast.data();
                    fast->pool2d(p);
                    CHECK(pool_ref == pool_fast);
                }
            }
    omp_set_num_threads(omp_get_num_procs());
}

namespace {

// Inputs for element-wise kernels: random values plus the edge cases of the activations.
std::vector<float> elementwise_input(int64_t n, unsigned seed) {
    std::vector<float> x = random_values(n, seed);
    const float special[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(), -0.f, 0.f, 3.f, -3.f, 6.f, 2.5f, -2.5f, 1.f, -1.f,
                             88.5f, -88.5f, 95.f, -95.f};  // past where exp overflows
    for (int64_t i = 0; i < n; ++i) {
        x[i] *= 8.f;  // spans the clamp bounds of relu6 and the hard sigmoids
        if (i % 7 == 3) x[i] = special[(i / 7) % (sizeof(special) / sizeof(special[0]))];
    }
    return x;
}

// Equal element by element (NaN where the other is NaN), or within atol + rtol * |b|.
bool same_values(const std::vector<float> & a, const std::vector<float> & b, double atol = 0, double rtol = 0) {
    for (size_t i = 0; i < a.size(); ++i)
        if (!(a[i] == b[i] || (a[i] != a[i] && b[i] != b[i]) || std::fabs(a[i] - b[i]) <= atol + rtol * std::fabs(b[i])))
            return false;
    return a.size() == b.size();
}

}  // namespace

TEST_CASE("kernels: fast expand_depthwise equals the reference up to rounding", "[kernels]") {
    const krun::Kernels & ref = krun::kernels_ref();
    // batch, height, width, in channels, expanded channels, kernel, stride, dilation, padding
    struct Case {
        int64_t batch, h, w, cin, cexp, kernel, stride, dilation;
        krun::Padding padding;
    };
    const Case cases[] = {{1, 13, 11, 5, 24, 3, 1, 1, krun::Padding::Same}, {2, 12, 17, 8, 19, 3, 2, 1, krun::Padding::Same},
                          {1, 9, 14, 16, 40, 5, 1, 1, krun::Padding::Same}, {1, 15, 10, 3, 33, 5, 2, 1, krun::Padding::Valid},
                          {1, 10, 10, 6, 16, 3, 1, 2, krun::Padding::Same}, {3, 4, 5, 7, 9, 3, 1, 1, krun::Padding::Valid},
                          // expanded whole (under 128 KiB), with enough work for several threads
                          {1, 14, 14, 40, 250, 5, 1, 1, krun::Padding::Same}, {2, 15, 13, 24, 160, 3, 2, 1, krun::Padding::Same},
                          // expanded images of more than 2 MiB: computed row by row (with AVX-512 from 128 KiB),
                          // threads sharing the rows read across their shares' boundaries (not with dilation)
                          {1, 64, 66, 8, 131, 3, 2, 1, krun::Padding::Same}, {2, 48, 50, 4, 232, 3, 1, 1, krun::Padding::Same},
                          {1, 47, 49, 5, 240, 5, 1, 1, krun::Padding::Valid}, {1, 48, 34, 6, 72, 5, 2, 1, krun::Padding::Same},
                          {1, 40, 40, 4, 64, 3, 1, 2, krun::Padding::Same},
                          // 7 output rows: threads split the expanded channels (a partial last panel)
                          {1, 13, 64, 8, 650, 3, 2, 1, krun::Padding::Same}, {1, 7, 80, 6, 1000, 5, 1, 1, krun::Padding::Same}};
    int index = 0;
    for (const Case & c : cases) {
        ++index;
        const krun::UnaryArgs expand_activation = kActivations[(index + 5) % kActivationCount];
        const krun::UnaryArgs depthwise_activation = kActivations[index % kActivationCount];
        const bool with_residual = index % 2 == 0;
        INFO("batch " << c.batch << " " << c.h << "x" << c.w << " cin " << c.cin << " cexp " << c.cexp << " kernel "
                      << c.kernel << " stride " << c.stride << " dilation " << c.dilation << " activations "
                      << int(expand_activation.op) << " " << int(depthwise_activation.op) << " residual " << with_residual);
        krun::Conv2dArgs e;
        e.batch = c.batch, e.in_h = e.out_h = c.h, e.in_w = e.out_w = c.w;
        e.in_channels = c.cin, e.out_channels = c.cexp;
        const auto input = random_values(c.batch * c.h * c.w * c.cin, 8);
        const auto expand_kernel = random_values(c.cin * c.cexp, 9), expand_bias = random_values(c.cexp, 10);
        e.input = input.data(), e.bias = expand_bias.data(), e.packed = true;
        e.epilogue.activation = expand_activation;
        krun::DepthwiseConv2dArgs d;
        krun::Conv2dArgs & g = d.geometry;
        g.batch = c.batch, g.in_h = c.h, g.in_w = c.w, g.in_channels = g.out_channels = c.cexp;
        g.kernel_h = g.kernel_w = c.kernel, g.stride_h = g.stride_w = c.stride;
        g.dilation_h = g.dilation_w = c.dilation;
        const krun::AxisWindow rows = krun::axis_window(c.h, c.kernel, c.stride, c.dilation, c.padding);
        const krun::AxisWindow cols = krun::axis_window(c.w, c.kernel, c.stride, c.dilation, c.padding);
        g.out_h = rows.out, g.pad_top = rows.pad_before, g.out_w = cols.out, g.pad_left = cols.pad_before;
        const auto depthwise_kernel = random_values(c.kernel * c.kernel * c.cexp, 11);
        const auto depthwise_bias = random_values(c.cexp, 12);
        const size_t out_size = c.batch * g.out_h * g.out_w * c.cexp;
        const auto residual = random_values(out_size, 13);
        g.kernel = depthwise_kernel.data(), g.bias = depthwise_bias.data();
        g.epilogue.activation = depthwise_activation;
        g.epilogue.residual = with_residual ? residual.data() : nullptr;

        std::vector<float> out_ref(out_size);
        const std::vector<float> ref_kernel = pack(ref, expand_kernel, c.cin, c.cexp);
        e.kernel = ref_kernel.data(), g.output = out_ref.data();
        ref.expand_depthwise(e, d);

        // The bound of check_sums for each of the two sums in a row: the expansion's error
        // (stretched at most 1.5 times by its activation) enters the depthwise sum with the taps'
        // |weights|. Magnitudes from the reference on absolute values.
        const size_t expanded_size = c.batch * c.h * c.w * c.cexp;
        std::vector<float> expand_magnitude(expanded_size), activated(expanded_size);
        const auto abs_input = absolute(input), abs_expand_kernel = absolute(expand_kernel);
        const auto abs_expand_bias = absolute(expand_bias), abs_depthwise_kernel = absolute(depthwise_kernel);
        const auto abs_depthwise_bias = absolute(depthwise_bias);
        krun::Conv2dArgs m = e;
        m.input = abs_input.data(), m.kernel = abs_expand_kernel.data(), m.bias = abs_expand_bias.data();
        m.packed = false, m.epilogue = {}, m.output = expand_magnitude.data();
        ref.conv2d(m);
        m = e, m.kernel = expand_kernel.data(), m.packed = false, m.output = activated.data();
        ref.conv2d(m);
        activated = absolute(activated);
        std::vector<float> sum_magnitude(out_size), carried(out_size);
        krun::DepthwiseConv2dArgs dm = d;
        dm.geometry.input = activated.data(), dm.geometry.kernel = abs_depthwise_kernel.data();
        dm.geometry.bias = abs_depthwise_bias.data(), dm.geometry.epilogue = {}, dm.geometry.output = sum_magnitude.data();
        ref.depthwise_conv2d(dm);
        dm.geometry.input = expand_magnitude.data(), dm.geometry.bias = nullptr, dm.geometry.output = carried.data();
        ref.depthwise_conv2d(dm);
        const double per_term = krun::test::kFastSumRtolPerTerm;
        std::vector<double> bound(out_size);
        for (size_t i = 0; i < out_size; ++i) {
            const double own = sum_magnitude[i] + (with_residual ? std::fabs(residual[i]) : 0.f);
            bound[i] = per_term * (c.kernel * c.kernel + 2) * own + per_term * 1.5 * (c.cin + 2) * carried[i] +
                       krun::test::kFastTranscendentalAtol + krun::test::kFastTranscendentalRtol * own;
        }

        for (const krun::Kernels * fast : fast_tables()) {
            const std::vector<float> fast_kernel = pack(*fast, expand_kernel, c.cin, c.cexp);
            e.kernel = fast_kernel.data();
            for (int threads : {1, 2, 3})
                for (bool nested : {false, true}) {
                    omp_set_num_threads(threads);
                    // nested: called from inside a parallel region, where OpenMP gives the kernel's
                    // own region one thread while omp_get_max_threads() still says `threads`.
                    INFO(fast->name << " threads " << threads << " nested " << nested);
                    std::vector<float> out_fast(out_size, 99.f);
                    g.output = out_fast.data();
                    if (nested) {
                        const int levels = omp_get_max_active_levels();
                        omp_set_max_active_levels(1);
#pragma omp parallel num_threads(2)
#pragma omp single
                        fast->expand_depthwise(e, d);
                        omp_set_max_active_levels(levels);
                    } else {
                        fast->expand_depthwise(e, d);
                    }
                    int64_t bad = 0;
                    size_t first_bad = 0;
                    for (size_t i = 0; i < out_size; ++i)
                        if (!(std::fabs(double(out_fast[i]) - double(out_ref[i])) <= bound[i]) && bad++ == 0) first_bad = i;
                    INFO("element " << first_bad << ": fast " << out_fast[first_bad] << " reference " << out_ref[first_bad]);
                    CHECK(bad == 0);
                }
        }
    }
    omp_set_num_threads(omp_get_num_procs());
}

TEST_CASE("kernels: fast unary and binary equal the reference", "[kernels]") {
    const krun::Kernels & ref = krun::kernels_ref();
    const krun::Binary binaries[] = {krun::Binary::Add, krun::Binary::Subtract, krun::Binary::Multiply,
                                     krun::Binary::Divide, krun::Binary::Maximum};
    for (const krun::Kernels * fast : fast_tables())
        for (int threads : {1, 2, 3})
            for (int64_t n : {1, 5, 17, 1000, 300001}) {
                omp_set_num_threads(threads);
                const auto x = elementwise_input(n, 11), z = elementwise_input(n, 12);
                for (const krun::UnaryArgs & f : kActivations) {
                    INFO(fast->name << " unary " << int(f.op) << " n " << n << " threads " << threads);
                    const double atol = transcendental(f.op) ? krun::test::kFastTranscendentalAtol : 0;
                    const double rtol = transcendental(f.op) ? krun::test::kFastTranscendentalRtol : 0;
                    std::vector<float> y_ref(n), y_fast(n);
                    ref.unary(f, x.data(), y_ref.data(), n);
                    fast->unary(f, x.data(), y_fast.data(), n);
                    CHECK(same_values(y_fast, y_ref, atol, rtol));
                    y_fast = x;  // in place
                    fast->unary(f, y_fast.data(), y_fast.data(), n);
                    CHECK(same_values(y_fast, y_ref, atol, rtol));
                }
                for (krun::Binary op : binaries)
                    for (int64_t a_step : {0, 1})
                        for (int64_t b_step : {0, 1}) {
                            INFO(fast->name << " binary " << int(op) << " n " << n << " steps " << a_step << b_step
                                            << " threads " << threads);
                            std::vector<float> y_ref(n), y_fast(n);
                            ref.binary(op, x.data(), a_step, z.data(), b_step, y_ref.data(), n);
                            fast->binary(op, x.data(), a_step, z.data(), b_step, y_fast.data(), n);
                            CHECK(same_values(y_fast, y_ref));
                        }
            }
    omp_set_num_threads(omp_get_num_procs());
}

TEST_CASE("kernels: shared units go to their owner front to back, the rest to thieves from the back", "[kernels]") {
    using krun::fast::SharedUnits;
    using krun::fast::UnitRange;
    auto same = [](UnitRange a, int64_t begin, int64_t end) { return a.begin == begin && a.end == end; };
    SharedUnits units(2, 10);  // shares [0, 5) and [5, 10)
    CHECK(same(units.take(0, 3), 0, 3));
    CHECK(same(units.take(0, 3), 3, 5));
    CHECK(same(units.take(0, 3), 9, 10));  // its own share done: the back of thread 1's
    CHECK(same(units.take(1, 2), 5, 7));
    CHECK(same(units.take(1, 2), 7, 9));
    CHECK(units.take(0, 1).empty());
    CHECK(units.take(1, 1).empty());

    SharedUnits kept(2, 10);
    kept.set_share(0, 0, 2);
    kept.set_share(1, 2, 10);
    CHECK(same(kept.take(1, 0), 2, 2));      // thread 1 has started (taking none)
    CHECK(same(kept.take(0, 5), 0, 2));
    CHECK(same(kept.take(0, 1, 6), 9, 10));  // 8 left, more than 6
    CHECK(same(kept.take(0, 1, 6), 8, 9));
    CHECK(kept.take(0, 1, 6).empty());  // 6 left: the owner's
    CHECK(same(kept.take(1, 100), 2, 8));
    CHECK(kept.take(1, 1).empty());

    SharedUnits ownerless(2, 6);  // OpenMP ran one thread: share [3, 6) has no owner
    CHECK(same(ownerless.take(0, 3), 0, 3));
    for (int64_t unit = 5; unit >= 3; --unit) CHECK(same(ownerless.take(0, 1, 6), unit, unit + 1));
    CHECK(ownerless.take(0, 1, 6).empty());

    SharedUnits alone(1, 7);  // one thread takes everything at once
    CHECK(same(alone.take(0, 2), 0, 7));
    CHECK(alone.take(0, 2).empty());
}

TEST_CASE("kernels: threads take every shared unit once, and finish the share of a slow thread", "[kernels]") {
    const int threads = 3;
    const int64_t count = 3000;
    krun::fast::SharedUnits units(threads, count);
    std::vector<std::atomic<int>> taken(count);
    std::vector<int> taker(count, -1);
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num();
        for (krun::fast::UnitRange u; !(u = units.take(t, 4)).empty();) {
            for (int64_t i = u.begin; i < u.end; ++i) taken[i]++, taker[i] = t;
            if (t == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow vCPU
        }
    }
    int64_t once = 0, share0_by_others = 0;
    for (int64_t i = 0; i < count; ++i) {
        once += taken[i] == 1;
        share0_by_others += i < count / threads && taker[i] != 0;
    }
    CHECK(once == count);
    CHECK(share0_by_others > 0);
}
