// Kernel benchmarks, reference and fast table, on shapes taken from MobileNetV2 1.0 at 224x224.
// Each benchmark takes (table, threads, packed): table 0 = reference, 1 = fast; the fast table
// is timed with unpacked weights (what layers pass without packing) and packed ones. The counter
// FLOP/s counts 2 per multiply-add, over the CPU time of the calling thread (on a loaded machine
// closer to the kernel's own speed than wall time).
#include <benchmark/benchmark.h>

#include <omp.h>

#include <random>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/kernels.h"

namespace {

// Cache-line aligned, as the runtime allocates activations and weights.
using Floats = std::vector<float, krun::CacheAligned<float>>;

Floats random_values(size_t n) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    Floats v(n);
    for (float & x : v) x = dist(rng);
    return v;
}

const krun::Kernels & table(const benchmark::State & state) {
    return state.range(0) ? krun::kernels_fast() : krun::kernels_ref();
}

// Sets the thread count, labels the run and returns the weights in the layout asked for.
Floats setup(benchmark::State & state, const Floats & b, int64_t k, int64_t n) {
    omp_set_num_threads(static_cast<int>(state.range(1)));
    const bool packed = state.range(2) != 0;
    state.SetLabel(std::string(table(state).name) + (packed ? " packed" : ""));
    if (!packed) return b;
    Floats out(table(state).packed_b_size(k, n));
    table(state).pack_b(b.data(), k, n, nullptr, out.data());
    return out;
}

void set_flops(benchmark::State & state, double flops_per_call) {
    state.counters["FLOP/s"] = benchmark::Counter(flops_per_call * state.iterations(), benchmark::Counter::kIsRate);
}

// Conv2D, bias and ReLU6 fused (as MobileNetV2 after BatchNorm folding).
void conv(benchmark::State & state, int64_t size, int64_t in_c, int64_t out_c, int64_t kernel, int64_t stride) {
    krun::Conv2dArgs a;
    a.batch = 1, a.in_h = a.in_w = size, a.in_channels = in_c, a.out_channels = out_c;
    a.kernel_h = a.kernel_w = kernel, a.stride_h = a.stride_w = stride;
    const krun::AxisWindow w = krun::axis_window(size, kernel, stride, 1, krun::Padding::Same);
    a.out_h = a.out_w = w.out, a.pad_top = a.pad_left = w.pad_before;
    const int64_t k = kernel * kernel * in_c;
    const Floats input = random_values(size * size * in_c), bias = random_values(out_c);
    const Floats kernel_values = setup(state, random_values(k * out_c), k, out_c);
    Floats output(w.out * w.out * out_c);
    a.input = input.data(), a.kernel = kernel_values.data(), a.bias = bias.data(), a.output = output.data();
    a.packed = state.range(2) != 0;
    a.epilogue.activation = {krun::Unary::Relu6};
    for (auto _ : state) table(state).conv2d(a);
    set_flops(state, 2.0 * w.out * w.out * out_c * k);
}

// A depthwise 3x3 SAME over a size x size x channels image, bias and ReLU6 fused: its arguments,
// weights and output (the input is the caller's).
struct Depthwise3x3 {
    Depthwise3x3(int64_t size, int64_t channels, int64_t stride)
        : kernel(random_values(9 * channels)), bias(random_values(channels)) {
        krun::Conv2dArgs & a = args.geometry;
        a.batch = 1, a.in_h = a.in_w = size, a.in_channels = a.out_channels = channels;
        a.kernel_h = a.kernel_w = 3, a.stride_h = a.stride_w = stride;
        const krun::AxisWindow w = krun::axis_window(size, 3, stride, 1, krun::Padding::Same);
        a.out_h = a.out_w = w.out, a.pad_top = a.pad_left = w.pad_before;
        output.resize(w.out * w.out * channels);
        a.kernel = kernel.data(), a.bias = bias.data(), a.output = output.data();
        a.epilogue.activation = {krun::Unary::Relu6};
    }
    double flops() const { return 2.0 * output.size() * 9; }
    krun::DepthwiseConv2dArgs args;
    Floats kernel, bias, output;
};

void depthwise(benchmark::State & state, int64_t size, int64_t channels, int64_t stride) {
    omp_set_num_threads(static_cast<int>(state.range(1)));
    state.SetLabel(table(state).name);
    Depthwise3x3 d(size, channels, stride);
    const Floats input = random_values(size * size * channels);
    d.args.geometry.input = input.data();
    for (auto _ : state) table(state).depthwise_conv2d(d.args);
    set_flops(state, d.flops());
}

// A MobileNetV2 block's 1x1 expansion and the depthwise 3x3 after it, fused
// (Kernels::expand_depthwise), bias and ReLU6 after each; packed expansion weights.
void expand_depthwise(benchmark::State & state, int64_t size, int64_t in_c, int64_t expanded_c, int64_t stride) {
    krun::Conv2dArgs e;
    e.batch = 1, e.in_h = e.out_h = e.in_w = e.out_w = size, e.in_channels = in_c, e.out_channels = expanded_c;
    const Floats input = random_values(size * size * in_c), expand_bias = random_values(expanded_c);
    const Floats expand_kernel = setup(state, random_values(in_c * expanded_c), in_c, expanded_c);
    e.input = input.data(), e.kernel = expand_kernel.data(), e.bias = expand_bias.data(), e.packed = true;
    e.epilogue.activation = {krun::Unary::Relu6};
    Depthwise3x3 d(size, expanded_c, stride);
    for (auto _ : state) table(state).expand_depthwise(e, d.args);
    set_flops(state, 2.0 * size * size * in_c * expanded_c + d.flops());
}

// Dense 1280 -> 1000 at batch 1 (the classifier).
void BM_dense_1280_1000(benchmark::State & state) {
    const int64_t k = 1280, n = 1000;
    const Floats a = random_values(k), bias = random_values(n);
    const Floats b = setup(state, random_values(k * n), k, n);
    Floats c(n);
    krun::GemmArgs g;
    g.m = 1, g.n = n, g.k = k, g.a = a.data(), g.lda = k, g.b = b.data(), g.ldb = n, g.bias = bias.data();
    g.c = c.data(), g.ldc = n, g.packed = state.range(2) != 0;
    for (auto _ : state) table(state).gemm(g);
    set_flops(state, 2.0 * n * k);
}

void BM_conv_224x3_to_32_3x3s2(benchmark::State & s) { conv(s, 224, 3, 32, 3, 2); }
void BM_conv_224x3_to_16_3x3s2(benchmark::State & s) { conv(s, 224, 3, 16, 3, 2); }
void BM_pointwise_112x32_to_16(benchmark::State & s) { conv(s, 112, 32, 16, 1, 1); }
void BM_pointwise_56x24_to_144(benchmark::State & s) { conv(s, 56, 24, 144, 1, 1); }
void BM_pointwise_56x144_to_24(benchmark::State & s) { conv(s, 56, 144, 24, 1, 1); }
void BM_pointwise_14x96_to_576(benchmark::State & s) { conv(s, 14, 96, 576, 1, 1); }
void BM_pointwise_7x960_to_320(benchmark::State & s) { conv(s, 7, 960, 320, 1, 1); }
void BM_pointwise_7x960_to_160(benchmark::State & s) { conv(s, 7, 960, 160, 1, 1); }
void BM_pointwise_7x576_to_96(benchmark::State & s) { conv(s, 7, 576, 96, 1, 1); }
void BM_pointwise_7x320_to_1280(benchmark::State & s) { conv(s, 7, 320, 1280, 1, 1); }
void BM_expand_depthwise_112x16_to_96_s2(benchmark::State & s) { expand_depthwise(s, 112, 16, 96, 2); }
void BM_expand_depthwise_56x24_to_144_s1(benchmark::State & s) { expand_depthwise(s, 56, 24, 144, 1); }
void BM_expand_depthwise_14x96_to_576_s1(benchmark::State & s) { expand_depthwise(s, 14, 96, 576, 1); }
void BM_expand_depthwise_7x160_to_960_s1(benchmark::State & s) { expand_depthwise(s, 7, 160, 960, 1); }
void BM_depthwise_112x96_s2(benchmark::State & s) { depthwise(s, 112, 96, 2); }
void BM_depthwise_56x144_s1(benchmark::State & s) { depthwise(s, 56, 144, 1); }
void BM_depthwise_14x576_s1(benchmark::State & s) { depthwise(s, 14, 576, 1); }
void BM_depthwise_7x960_s1(benchmark::State & s) { depthwise(s, 7, 960, 1); }

// (table, threads, packed): reference at 1 thread; fast unpacked and packed at 1 and 2 threads.
void weight_args(benchmark::internal::Benchmark * b) {
    b->Args({0, 1, 0});
    for (int threads : {1, 2}) b->Args({1, threads, 0})->Args({1, threads, 1});
    b->ArgNames({"fast", "threads", "packed"})->Unit(benchmark::kMicrosecond);
}
void depthwise_args(benchmark::internal::Benchmark * b) {
    b->Args({0, 1, 0})->Args({1, 1, 0})->Args({1, 2, 0});
    b->ArgNames({"fast", "threads", "packed"})->Unit(benchmark::kMicrosecond);
}
void packed_args(benchmark::internal::Benchmark * b) {
    b->Args({0, 1, 1})->Args({1, 1, 1})->Args({1, 2, 1});
    b->ArgNames({"fast", "threads", "packed"})->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_conv_224x3_to_32_3x3s2)->Apply(weight_args);
BENCHMARK(BM_conv_224x3_to_16_3x3s2)->Apply(weight_args);
BENCHMARK(BM_pointwise_112x32_to_16)->Apply(weight_args);
BENCHMARK(BM_pointwise_56x24_to_144)->Apply(weight_args);
BENCHMARK(BM_pointwise_56x144_to_24)->Apply(weight_args);
BENCHMARK(BM_pointwise_14x96_to_576)->Apply(weight_args);
BENCHMARK(BM_pointwise_7x960_to_320)->Apply(weight_args);
BENCHMARK(BM_pointwise_7x960_to_160)->Apply(weight_args);
BENCHMARK(BM_pointwise_7x576_to_96)->Apply(weight_args);
BENCHMARK(BM_pointwise_7x320_to_1280)->Apply(weight_args);
BENCHMARK(BM_expand_depthwise_112x16_to_96_s2)->Apply(packed_args);
BENCHMARK(BM_expand_depthwise_56x24_to_144_s1)->Apply(packed_args);
BENCHMARK(BM_expand_depthwise_14x96_to_576_s1)->Apply(packed_args);
BENCHMARK(BM_expand_depthwise_7x160_to_960_s1)->Apply(packed_args);
BENCHMARK(BM_depthwise_112x96_s2)->Apply(depthwise_args);
BENCHMARK(BM_depthwise_56x144_s1)->Apply(depthwise_args);
BENCHMARK(BM_depthwise_14x576_s1)->Apply(depthwise_args);
BENCHMARK(BM_depthwise_7x960_s1)->Apply(depthwise_args);
BENCHMARK(BM_dense_1280_1000)->Apply(weight_args);
