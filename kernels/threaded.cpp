// The reference arithmetic with its output rows split across OpenMP threads. Every output element
// is computed by the same reference code, so the results are bit-identical to kernels_ref().
#include "kernels/threaded.h"

#include <omp.h>

#include <algorithm>

#include "kernels/ref/ref.h"

namespace krun::threaded {

namespace {

// Below this many multiply-adds a kernel call is not worth waking other threads for.
constexpr int64_t kMinParallelWork = 1 << 15;

// Calls part(begin, end) on consecutive slices of [0, rows), one per thread.
template <class Part>
void split_rows(int64_t rows, int64_t work, const Part & part) {
    const int64_t threads = std::min<int64_t>(omp_get_max_threads(), rows);
    if (threads <= 1 || work < kMinParallelWork) {
        part(0, rows);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(threads))
    for (int64_t t = 0; t < threads; ++t) part(rows * t / threads, rows * (t + 1) / threads);
}

}  // namespace

void gemm(const GemmArgs & g) {
    split_rows(g.m, g.m * g.n * g.k, [&](int64_t begin, int64_t end) {
        GemmArgs part = g;
        part.m = end - begin;
        part.a += begin * g.lda;
        part.c += begin * g.ldc;
        if (part.epilogue.residual) part.epilogue.residual += begin * g.ldc;
        ref::gemm(part);
    });
}

namespace {

// Calls slice(image, y0, y1) for each image's run of output rows inside rows [begin, end) of the
// flattened (batch, out_h) rows.
template <class Slice>
void for_image_rows(int64_t out_h, int64_t begin, int64_t end, const Slice & slice) {
    for (int64_t row = begin; row < end;) {
        const int64_t image = row / out_h, y0 = row % out_h;
        const int64_t y1 = std::min(out_h, y0 + (end - row));
        slice(image, y0, y1);
        row += y1 - y0;
    }
}

// Runs `kernel` on output rows [begin, end) of the flattened (batch, out_h) rows of `a`, shifting
// pad_top so that the first output row of a slice reads the same input rows as in the whole call.
template <class Kernel>
void conv_rows(const Conv2dArgs & a, int64_t in_row_elems, int64_t out_row_elems, int64_t begin, int64_t end,
               const Kernel & kernel) {
    for_image_rows(a.out_h, begin, end, [&](int64_t image, int64_t y0, int64_t y1) {
        Conv2dArgs part = a;
        part.batch = 1;
        part.out_h = y1 - y0;
        part.pad_top = a.pad_top - y0 * a.stride_h;
        part.input = a.input + image * a.in_h * in_row_elems;
        const int64_t first_out = (image * a.out_h + y0) * out_row_elems;
        part.output = a.output + first_out;
        if (part.epilogue.residual) part.epilogue.residual = a.epilogue.residual + first_out;
        kernel(part);
    });
}

}  // namespace

void conv2d(const Conv2dArgs & a) {
    const int64_t work = a.batch * a.out_h * a.out_w * a.out_channels * a.kernel_h * a.kernel_w * (a.in_channels / a.groups);
    split_rows(a.batch * a.out_h, work, [&](int64_t begin, int64_t end) {
        conv_rows(a, a.in_w * a.in_channels, a.out_w * a.out_channels, begin, end, ref::conv2d);
    });
}

void depthwise_conv2d(const DepthwiseConv2dArgs & d) {
    const Conv2dArgs & a = d.geometry;
    const int64_t out_channels = a.in_channels * d.depth_multiplier;
    const int64_t work = a.batch * a.out_h * a.out_w * out_channels * a.kernel_h * a.kernel_w;
    split_rows(a.batch * a.out_h, work, [&](int64_t begin, int64_t end) {
        conv_rows(a, a.in_w * a.in_channels, a.out_w * out_channels, begin, end, [&](const Conv2dArgs & part) {
            DepthwiseConv2dArgs slice = d;
            slice.geometry = part;
            ref::depthwise_conv2d(slice);
        });
    });
}

void pool2d(const Pool2dArgs & p) {
    const int64_t work = p.batch * p.out_h * p.out_w * p.channels * p.pool_h * p.pool_w;
    split_rows(p.batch * p.out_h, work, [&](int64_t begin, int64_t end) {
        for_image_rows(p.out_h, begin, end, [&](int64_t image, int64_t y0, int64_t y1) {
            Pool2dArgs part = p;
            part.batch = 1;
            part.out_h = y1 - y0;
            part.pad_top = p.pad_top - y0 * p.stride_h;
            part.input = p.input + image * p.in_h * p.in_w * p.channels;
            part.output = p.output + (image * p.out_h + y0) * p.out_w * p.channels;
            ref::pool2d(part);
        });
    });
}

const Kernels & kernels_threaded() {
    static const Kernels table{"threaded reference", gemm, conv2d, depthwise_conv2d, pool2d,
                               ref::unary, ref::binary, ref::softmax, ref::conv2d_transpose,
                               ref::resize_bilinear, ref::packed_b_size, ref::pack_b, ref::expand_depthwise};
    return table;
}

}  // namespace krun::threaded
