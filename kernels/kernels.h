// Kernels: math on raw float pointers. No allocation, no exceptions, no shapes objects.
//
// Each kernel has a scalar reference (kernels/ref/, the semantics, written to be checked against
// the Keras/TF rule line by line) and may have a fast version with the same signature. Layers
// only call kernels through a Kernels table, so the whole model can run on either.
#pragma once

#include <algorithm>
#include <cstdint>

namespace krun {

// Element-wise functions. Where Keras 2 and Keras 3 differ, both exist (the caller picks).
enum class Unary {
    Linear, Relu, Relu6, Sigmoid, Tanh, Exponential,
    HardSigmoidKeras2,  // clip(0.2x + 0.5, 0, 1)
    HardSigmoidKeras3,  // relu6(x + 3) / 6
    HardSilu,           // x * relu6(x + 3) / 6 (Keras 3 hard_silu / hard_swish)
    Elu,                // alpha: x > 0 ? x : alpha (e^x - 1)
    Selu, Gelu, GeluTanh, Softplus, Softsign, Swish, Mish,
    LeakyRelu,          // alpha: negative slope
    Celu,               // alpha
    HardTanh, HardShrink, SoftShrink, TanhShrink,  // alpha: threshold (shrinks)
    SparsePlus, SparseSigmoid, Squareplus, LogSigmoid,
    Threshold,          // alpha: threshold, beta: default value (Keras 3 threshold)
    Square, Sqrt, Rsqrt, Negative, Abs, Log, Reciprocal,
    ScaleShift,         // alpha * x + beta, rounded after the multiply (Keras Rescaling)
};

struct UnaryArgs {
    Unary op = Unary::Linear;
    float alpha = 0.f;
    float beta = 0.f;
};

// What gemm, conv2d and depthwise_conv2d do to each output value after the sum and the bias:
// y = activation(sum + bias), then y += residual (same layout as the output) when residual is set.
// The same arithmetic as running the activation and an Add layer afterwards, fused.
struct Epilogue {
    UnaryArgs activation;
    const float * residual = nullptr;
};

// C[m x n] = A[m x k] * B[k x n] (+ bias[n] broadcast over rows when bias is not null), then the
// epilogue (residual with leading dimension ldc). Row-major with leading dimensions (elements).
// With accumulate, C += A*B (bias still added). With packed, b is the output of this table's
// pack_b(b, k, n) and ldb is ignored.
struct GemmArgs {
    int64_t m = 0, n = 0, k = 0;
    const float * a = nullptr;
    int64_t lda = 0;
    const float * b = nullptr;
    int64_t ldb = 0;
    const float * bias = nullptr;
    float * c = nullptr;
    int64_t ldc = 0;
    bool accumulate = false;
    bool packed = false;
    Epilogue epilogue;
};

// NHWC convolution, kernel [kernel_h, kernel_w, in_channels / groups, out_channels] (Keras HWIO).
// Output pixel (y, x) reads input rows y*stride_h - pad_top + i*dilation_h; rows outside the
// input read as zero, or as pad_values[c] in channel c when set (an affine map folded into the
// kernel: the padding reads the input that maps to zero). Output channel o uses the input
// channels of group o / (out_channels/groups).
// With packed (groups 1 only), kernel is this table's pack_b(kernel, kernel_h*kernel_w*in_channels,
// out_channels). The epilogue follows the bias.
struct Conv2dArgs {
    int64_t batch = 0, in_h = 0, in_w = 0, in_channels = 0;
    int64_t out_h = 0, out_w = 0, out_channels = 0;
    int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
    int64_t pad_top = 0, pad_left = 0, groups = 1;
    const float * input = nullptr;
    const float * kernel = nullptr;
    const float * bias = nullptr;  // [out_channels] or null
    float * output = nullptr;
    bool packed = false;
    const float * pad_values = nullptr;  // [in_channels] or null (zeros); conv2d only
    Epilogue epilogue;
};

// NHWC transposed convolution (the gradient of conv2d with respect to its input), kernel
// [kernel_h, kernel_w, out_channels, in_channels] (Keras Conv2DTranspose: outputs before inputs).
// The geometry is that of the forward convolution from this output to this input: input pixel
// (y, x) adds kernel tap (i, j) to output row y*stride_h - pad_top + i*dilation_h (and column
// likewise) when it lies inside the output. groups must be 1.
using ConvTranspose2dArgs = Conv2dArgs;

// NHWC depthwise convolution, kernel [kernel_h, kernel_w, in_channels, depth_multiplier]; output
// channel c*depth_multiplier + m is input channel c convolved with kernel[:, :, c, m]. Geometry as
// Conv2dArgs (out_channels = in_channels * depth_multiplier, groups and packed unused), and so is
// the epilogue.
struct DepthwiseConv2dArgs {
    Conv2dArgs geometry;
    int64_t depth_multiplier = 1;
};

// NHWC max/average pooling. Cells outside the input are ignored: max skips them and average
// divides by the number of cells inside the input (tf.nn.avg_pool with SAME padding).
struct Pool2dArgs {
    int64_t batch = 0, in_h = 0, in_w = 0, channels = 0, out_h = 0, out_w = 0;
    int64_t pool_h = 1, pool_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0;
    bool is_max = true;
    const float * input = nullptr;
    float * output = nullptr;
};

// NHWC bilinear resize as tf.image.resize (half_pixel_centers, no antialias): output row y reads
// source row (y + 0.5) * (in_h / out_h) - 0.5, interpolated between its floor and ceil clamped to
// the image; columns likewise; rows are interpolated first along x, then along y.
struct ResizeArgs {
    int64_t batch = 0, in_h = 0, in_w = 0, channels = 0, out_h = 0, out_w = 0;
    const float * input = nullptr;
    float * output = nullptr;
};

// Keras padding of a convolution or pooling window along one axis (format-spec 4.2).
enum class Padding { Valid, Same, Causal };

struct AxisWindow {
    int64_t out = 0;         // output length (-1 when the input length is unknown)
    int64_t pad_before = 0;  // the pad_top / pad_left of the kernel arguments
};

// Valid: no padding. Same: ceil(length / stride) outputs, the odd padding element after. Causal:
// all padding before, (kernel - 1) * dilation elements. `length` -1 means unknown.
inline AxisWindow axis_window(int64_t length, int64_t kernel, int64_t stride, int64_t dilation, Padding padding) {
    if (length < 0) return {-1, 0};
    const int64_t span = (kernel - 1) * dilation + 1;
    switch (padding) {
    case Padding::Same: {
        const int64_t out = (length + stride - 1) / stride;
        return {out, std::max<int64_t>((out - 1) * stride + span - length, 0) / 2};
    }
    case Padding::Causal: return {(length + stride - 1) / stride, span - 1};
    case Padding::Valid: break;
    }
    return {length >= span ? (length - span) / stride + 1 : 0, 0};
}

enum class Binary { Add, Subtract, Multiply, Divide, Maximum, Minimum, Power, SquaredDifference };

struct Kernels {
    const char * name;
    void (*gemm)(const GemmArgs & args);
    void (*conv2d)(const Conv2dArgs & args);
    void (*depthwise_conv2d)(const DepthwiseConv2dArgs & args);
    void (*pool2d)(const Pool2dArgs & args);
    // y[i] = f(x[i]) for i < n; x and y may be the same pointer.
    void (*unary)(const UnaryArgs & op, const float * x, float * y, int64_t n);
    // y[i] = a[i * a_step] (op) b[i * b_step] for i < n; steps are 0 (broadcast) or 1.
    void (*binary)(Binary op, const float * a, int64_t a_step, const float * b, int64_t b_step, float * y, int64_t n);
    // Softmax (or log-softmax) along the middle axis of [outer, axis_len, inner].
    void (*softmax)(const float * x, float * y, int64_t outer, int64_t axis_len, int64_t inner, bool log);
    // Keras Conv1D/2DTranspose; UpSampling2D(interpolation="bilinear").
    void (*conv2d_transpose)(const ConvTranspose2dArgs & args);
    void (*resize_bilinear)(const ResizeArgs & args);
    // Weights [k x n] row-major (a Dense kernel, a Conv2D kernel HWIO read as [kh*kw*cin, cout])
    // rearranged, once at load, into the layout this table's gemm and conv2d read when `packed`
    // is set: packed_b_size(k, n) floats written to `packed`. With column_scale (n values, or
    // null), column j is packed as float(b[., j] * column_scale[j]) (a folded BatchNormalization).
    int64_t (*packed_b_size)(int64_t k, int64_t n);
    void (*pack_b)(const float * b, int64_t k, int64_t n, const double * column_scale, float * packed);
    // conv2d(expand) then depthwise_conv2d(depthwise) on its output, which never exists whole: the
    // fast kernels compute it a few rows at a time, in cache. expand is a 1x1 convolution with
    // stride 1, no padding and groups 1 whose epilogue has no residual; depthwise has depth
    // multiplier 1, kernel_h <= kMaxExpandDepthwiseRows, and reads expand's output (its input
    // field is ignored).
    void (*expand_depthwise)(const Conv2dArgs & expand, const DepthwiseConv2dArgs & depthwise);
};

constexpr int64_t kMaxExpandDepthwiseRows = 8;

// The scalar reference kernels.
const Kernels & kernels_ref();
// The fastest kernels for this CPU (reference where no fast version exists).
const Kernels & kernels_fast();

}  // namespace krun
