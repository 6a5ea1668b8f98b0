// tf.image.resize bilinear (TF's ResizeBilinear CPU kernel with half_pixel_centers=True).
#include <algorithm>
#include <cmath>

#include "kernels/ref/ref.h"

namespace krun::ref {

namespace {

// Source position of output index `i`: the two neighbours and the weight of the upper one.
struct Tap {
    int64_t lower = 0, upper = 0;
    float lerp = 0.f;
};

Tap source_tap(int64_t i, int64_t in_size, float scale) {
    const float in = (static_cast<float>(i) + 0.5f) * scale - 0.5f;
    const float in_floor = std::floor(in);
    Tap t;
    t.lower = std::max(static_cast<int64_t>(in_floor), int64_t{0});
    t.upper = std::min(static_cast<int64_t>(std::ceil(in)), in_size - 1);
    t.lerp = in - in_floor;
    return t;
}

}  // namespace

void resize_bilinear(const ResizeArgs & a) {
    const float scale_y = static_cast<float>(a.in_h) / static_cast<float>(a.out_h);
    const float scale_x = static_cast<float>(a.in_w) / static_cast<float>(a.out_w);
    const int64_t row = a.in_w * a.channels;
    for (int64_t b = 0; b < a.batch; ++b)
        for (int64_t oy = 0; oy < a.out_h; ++oy) {
            const Tap ty = source_tap(oy, a.in_h, scale_y);
            const float * top_row = a.input + (b * a.in_h + ty.lower) * row;
            const float * bottom_row = a.input + (b * a.in_h + ty.upper) * row;
            for (int64_t ox = 0; ox < a.out_w; ++ox) {
                const Tap tx = source_tap(ox, a.in_w, scale_x);
                float * out = a.output + ((b * a.out_h + oy) * a.out_w + ox) * a.channels;
                for (int64_t c = 0; c < a.channels; ++c) {
                    const float top_left = top_row[tx.lower * a.channels + c];
                    const float top_right = top_row[tx.upper * a.channels + c];
                    const float bottom_left = bottom_row[tx.lower * a.channels + c];
                    const float bottom_right = bottom_row[tx.upper * a.channels + c];
                    const float top = top_left + (top_right - top_left) * tx.lerp;
                    const float bottom = bottom_left + (bottom_right - bottom_left) * tx.lerp;
                    out[c] = top + (bottom - top) * ty.lerp;
                }
            }
        }
}

}  // namespace krun::ref
