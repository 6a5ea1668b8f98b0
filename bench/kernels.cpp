// Kernel benchmarks, reference and fast table, on shapes taken from MobileNetV2 at 224x224:
// a 1x1 expansion (GEMM), the first 3x3 stride-2 convolution, a 3x3 depthwise convolution.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace {

std::vector<float> random_values(size_t n) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> v(n);
    for (float & x : v) x = dist(rng);
    return v;
}

const krun::Kernels & table(const benchmark::State & state) {
    return state.range(0) ? krun::kernels_fast() : krun::kernels_ref();
}

void set_flops(benchmark::State & state, double flops_per_call) {
    state.counters["FLOP/s"] = benchmark::Counter(flops_per_call * state.iterations(), benchmark::Counter::kIsRate);
    state.SetLabel(table(state).name);
}

// block_2_expand: [56*56, 24] x [24, 144].
void BM_gemm(benchmark::State & state) {
    const int64_t m = 56 * 56, k = 24, n = 144;
    const std::vector<float> a = random_values(m * k), b = random_values(k * n), bias = random_values(n);
    std::vector<float> c(m * n);
    krun::GemmArgs g;
    g.m = m, g.n = n, g.k = k, g.a = a.data(), g.lda = k, g.b = b.data(), g.ldb = n, g.bias = bias.data();
    g.c = c.data(), g.ldc = n;
    for (auto _ : state) table(state).gemm(g);
    set_flops(state, 2.0 * m * n * k);
}

// Conv1: 224x224x3 -> 112x112x32, 3x3, stride 2, SAME.
void BM_conv2d(benchmark::State & state) {
    krun::Conv2dArgs a;
    a.batch = 1, a.in_h = 224, a.in_w = 224, a.in_channels = 3, a.out_h = 112, a.out_w = 112, a.out_channels = 32;
    a.kernel_h = 3, a.kernel_w = 3, a.stride_h = 2, a.stride_w = 2, a.pad_top = 0, a.pad_left = 0;
    const std::vector<float> input = random_values(224 * 224 * 3), kernel = random_values(3 * 3 * 3 * 32);
    std::vector<float> output(112 * 112 * 32);
    a.input = input.data(), a.kernel = kernel.data(), a.output = output.data();
    for (auto _ : state) table(state).conv2d(a);
    set_flops(state, 2.0 * 112 * 112 * 32 * 27);
}

// block_2_depthwise: 56x56x144, 3x3, stride 1, SAME.
void BM_depthwise_conv2d(benchmark::State & state) {
    krun::DepthwiseConv2dArgs d;
    krun::Conv2dArgs & a = d.geometry;
    a.batch = 1, a.in_h = 56, a.in_w = 56, a.in_channels = 144, a.out_h = 56, a.out_w = 56, a.out_channels = 144;
    a.kernel_h = 3, a.kernel_w = 3, a.pad_top = 1, a.pad_left = 1;
    const std::vector<float> input = random_values(56 * 56 * 144), kernel = random_values(9 * 144);
    std::vector<float> output(56 * 56 * 144);
    a.input = input.data(), a.kernel = kernel.data(), a.output = output.data();
    for (auto _ : state) table(state).depthwise_conv2d(d);
    set_flops(state, 2.0 * 56 * 56 * 144 * 9);
}

}  // namespace

// Argument 0: reference table, 1: fast table.
BENCHMARK(BM_gemm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_conv2d)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_depthwise_conv2d)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
