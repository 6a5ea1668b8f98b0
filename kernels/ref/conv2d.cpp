#include <vector>

#include "kernels/ref/ref.h"

namespace krun::ref {

// The epilogue over the whole output, once every sum and bias is in place.
static void pixel_epilogues(const Conv2dArgs & a, int64_t out_channels) {
    const int64_t n = a.batch * a.out_h * a.out_w * out_channels;
    epilogue(a.epilogue, a.output, a.epilogue.residual, n);
}

void conv2d(const Conv2dArgs & a) {
    const int64_t group_in = a.in_channels / a.groups;
    const int64_t group_out = a.out_channels / a.groups;
    for (int64_t b = 0; b < a.batch; ++b)
        for (int64_t oy = 0; oy < a.out_h; ++oy)
            for (int64_t ox = 0; ox < a.out_w; ++ox)
                for (int64_t oc = 0; oc < a.out_channels; ++oc) {
                    const int64_t first_in = (oc / group_out) * group_in;
                    float acc = 0.f;
                    for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
                        const int64_t iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
                        for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
                            const int64_t ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
                            const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
                            if (!inside && !a.pad_values) continue;
                            const float * in = inside ? a.input + ((b * a.in_h + iy) * a.in_w + ix) * a.in_channels + first_in
                                                      : a.pad_values + first_in;
                            const float * w = a.kernel + ((ky * a.kernel_w + kx) * group_in) * a.out_channels + oc;
                            for (int64_t ic = 0; ic < group_in; ++ic) acc += in[ic] * w[ic * a.out_channels];
                        }
                    }
                    float * out = a.output + ((b * a.out_h + oy) * a.out_w + ox) * a.out_channels + oc;
                    *out = a.bias ? acc + a.bias[oc] : acc;
                }
    pixel_epilogues(a, a.out_channels);
}

// Written as a gather: output row oy receives tap i from input row iy when
// iy * stride_h - pad_top + i * dilation_h == oy.
void conv2d_transpose(const ConvTranspose2dArgs & a) {
    for (int64_t b = 0; b < a.batch; ++b)
        for (int64_t oy = 0; oy < a.out_h; ++oy)
            for (int64_t ox = 0; ox < a.out_w; ++ox)
                for (int64_t oc = 0; oc < a.out_channels; ++oc) {
                    float acc = 0.f;
                    for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
                        const int64_t sy = oy + a.pad_top - ky * a.dilation_h;
                        if (sy < 0 || sy % a.stride_h != 0 || sy / a.stride_h >= a.in_h) continue;
                        const int64_t iy = sy / a.stride_h;
                        for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
                            const int64_t sx = ox + a.pad_left - kx * a.dilation_w;
                            if (sx < 0 || sx % a.stride_w != 0 || sx / a.stride_w >= a.in_w) continue;
                            const int64_t ix = sx / a.stride_w;
                            const float * in = a.input + ((b * a.in_h + iy) * a.in_w + ix) * a.in_channels;
                            const float * w = a.kernel + ((ky * a.kernel_w + kx) * a.out_channels + oc) * a.in_channels;
                            for (int64_t ic = 0; ic < a.in_channels; ++ic) acc += in[ic] * w[ic];
                        }
                    }
                    float * out = a.output + ((b * a.out_h + oy) * a.out_w + ox) * a.out_channels + oc;
                    *out = a.bias ? acc + a.bias[oc] : acc;
                }
}

void depthwise_conv2d(const DepthwiseConv2dArgs & d) {
    const Conv2dArgs & a = d.geometry;
    const int64_t dm = d.depth_multiplier;
    for (int64_t b = 0; b < a.batch; ++b)
        for (int64_t oy = 0; oy < a.out_h; ++oy)
            for (int64_t ox = 0; ox < a.out_w; ++ox)
                for (int64_t oc = 0; oc < a.in_channels * dm; ++oc) {
                    const int64_t ic = oc / dm;
                    float acc = 0.f;
                    for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
                        const int64_t iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
                        if (iy < 0 || iy >= a.in_h) continue;
                        for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
                            const int64_t ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
                            if (ix < 0 || ix >= a.in_w) continue;
                            acc += a.input[((b * a.in_h + iy) * a.in_w + ix) * a.in_channels + ic] *
                                   a.kernel[(ky * a.kernel_w + kx) * a.in_channels * dm + oc];
                        }
                    }
                    float * out = a.output + ((b * a.out_h + oy) * a.out_w + ox) * a.in_channels * dm + oc;
                    *out = a.bias ? acc + a.bias[oc] : acc;
                }
    pixel_epilogues(a, a.in_channels * dm);
}

void expand_depthwise(const Conv2dArgs & expand, const DepthwiseConv2dArgs & depthwise) {
    std::vector<float> expanded(static_cast<size_t>(expand.batch * expand.out_h * expand.out_w * expand.out_channels));
    Conv2dArgs e = expand;
    e.output = expanded.data();
    conv2d(e);
    DepthwiseConv2dArgs d = depthwise;
    d.geometry.input = expanded.data();
    depthwise_conv2d(d);
}

}  // namespace krun::ref
