// Fast kernel table against the reference on awkward sizes (odd extents, stride 2, SAME-style
// padding, dilation, batch > 1, more rows than threads and fewer; the last conv case is large
// enough for pooling to be split too). The fast table splits output
// rows across threads and runs the reference arithmetic per slice, so results must be identical.
#include <catch2/catch.hpp>

#include <omp.h>

#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace {

std::vector<float> random_values(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> v(n);
    for (float & x : v) x = dist(rng);
    return v;
}

// Conv geometry cases: {batch, in_h, in_w, in_c, out_c, kernel, stride, dilation, pad, groups}.
struct ConvCase {
    int64_t batch, in_h, in_w, in_c, out_c, kernel, stride, dilation, pad, groups;
};
const ConvCase kConvCases[] = {
    {1, 17, 13, 5, 8, 3, 1, 1, 1, 1}, {2, 15, 11, 6, 9, 3, 2, 1, 0, 3}, {3, 9, 21, 4, 4, 2, 1, 2, 1, 2},
    {1, 33, 7, 3, 16, 5, 2, 1, 2, 1}, {2, 2, 40, 8, 8, 1, 1, 1, 0, 1}, {2, 31, 29, 16, 16, 3, 2, 1, 1, 4},
};

krun::Conv2dArgs geometry(const ConvCase & c, int64_t out_channels) {
    krun::Conv2dArgs a;
    a.batch = c.batch, a.in_h = c.in_h, a.in_w = c.in_w, a.in_channels = c.in_c, a.out_channels = out_channels;
    a.kernel_h = a.kernel_w = c.kernel, a.stride_h = a.stride_w = c.stride, a.dilation_h = a.dilation_w = c.dilation;
    a.pad_top = a.pad_left = c.pad, a.groups = c.groups;
    const int64_t extent = (c.kernel - 1) * c.dilation + 1;
    a.out_h = (c.in_h + 2 * c.pad - extent) / c.stride + 1;
    a.out_w = (c.in_w + 2 * c.pad - extent) / c.stride + 1;
    return a;
}

}  // namespace

TEST_CASE("kernels: fast gemm, conv2d, depthwise_conv2d and pool2d equal the reference", "[kernels]") {
    const krun::Kernels & ref = krun::kernels_ref();
    const krun::Kernels & fast = krun::kernels_fast();
    for (int threads : {2, 3}) {
        omp_set_num_threads(threads);
        for (int64_t m : {1, 2, 7, 129}) {
            const int64_t n = 37, k = 300;
            INFO("gemm m " << m << " threads " << threads);
            const auto a = random_values(m * k, 1), b = random_values(k * n, 2), bias = random_values(n, 3);
            std::vector<float> c_ref(m * n), c_fast(m * n);
            krun::GemmArgs g;
            g.m = m, g.n = n, g.k = k, g.a = a.data(), g.lda = k, g.b = b.data(), g.ldb = n, g.bias = bias.data(), g.ldc = n;
            g.c = c_ref.data();
            ref.gemm(g);
            g.c = c_fast.data();
            fast.gemm(g);
            CHECK(c_ref == c_fast);
        }
        for (const ConvCase & c : kConvCases) {
            INFO("conv case in " << c.batch << "x" << c.in_h << "x" << c.in_w << "x" << c.in_c << " kernel " << c.kernel
                                 << " stride " << c.stride << " dilation " << c.dilation << " threads " << threads);
            const auto input = random_values(c.batch * c.in_h * c.in_w * c.in_c, 4);

            krun::Conv2dArgs a = geometry(c, c.out_c);
            const auto kernel = random_values(c.kernel * c.kernel * (c.in_c / c.groups) * c.out_c, 5);
            const auto bias = random_values(c.out_c, 6);
            std::vector<float> out_ref(a.batch * a.out_h * a.out_w * c.out_c), out_fast(out_ref.size());
            a.input = input.data(), a.kernel = kernel.data(), a.bias = bias.data();
            a.output = out_ref.data();
            ref.conv2d(a);
            a.output = out_fast.data();
            fast.conv2d(a);
            CHECK(out_ref == out_fast);

            krun::DepthwiseConv2dArgs d;
            d.depth_multiplier = 2;
            d.geometry = geometry(c, c.in_c * 2);
            d.geometry.groups = 1;
            const auto dw_kernel = random_values(c.kernel * c.kernel * c.in_c * 2, 7);
            std::vector<float> dw_ref(d.geometry.batch * d.geometry.out_h * d.geometry.out_w * c.in_c * 2), dw_fast(dw_ref.size());
            d.geometry.input = input.data(), d.geometry.kernel = dw_kernel.data(), d.geometry.bias = nullptr;
            d.geometry.output = dw_ref.data();
            ref.depthwise_conv2d(d);
            d.geometry.output = dw_fast.data();
            fast.depthwise_conv2d(d);
            CHECK(dw_ref == dw_fast);

            for (bool is_max : {true, false}) {
                krun::Pool2dArgs p;
                p.batch = c.batch, p.in_h = c.in_h, p.in_w = c.in_w, p.channels = c.in_c;
                p.pool_h = p.pool_w = c.kernel, p.stride_h = p.stride_w = c.stride, p.pad_top = p.pad_left = c.pad;
                p.out_h = (c.in_h + 2 * c.pad - c.kernel) / c.stride + 1;
                p.out_w = (c.in_w + 2 * c.pad - c.kernel) / c.stride + 1;
                p.is_max = is_max;
                p.input = input.data();
                std::vector<float> pool_ref(p.batch * p.out_h * p.out_w * p.channels), pool_fast(pool_ref.size());
                p.output = pool_ref.data();
                ref.pool2d(p);
                p.output = pool_fast.data();
                fast.pool2d(p);
                CHECK(pool_ref == pool_fast);
            }
        }
    }
    omp_set_num_threads(omp_get_num_procs());
}
