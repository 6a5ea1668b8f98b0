#include <limits>

#include "kernels/ref/ref.h"

namespace krun::ref {

void pool2d(const Pool2dArgs & a) {
    for (int64_t b = 0; b < a.batch; ++b)
        for (int64_t oy = 0; oy < a.out_h; ++oy)
            for (int64_t ox = 0; ox < a.out_w; ++ox)
                for (int64_t c = 0; c < a.channels; ++c) {
                    float best = -std::numeric_limits<float>::infinity();
                    float sum = 0.f;
                    int64_t count = 0;
                    for (int64_t py = 0; py < a.pool_h; ++py) {
                        const int64_t iy = oy * a.stride_h - a.pad_top + py;
                        if (iy < 0 || iy >= a.in_h) continue;
                        for (int64_t px = 0; px < a.pool_w; ++px) {
                            const int64_t ix = ox * a.stride_w - a.pad_left + px;
                            if (ix < 0 || ix >= a.in_w) continue;
                            const float v = a.input[((b * a.in_h + iy) * a.in_w + ix) * a.channels + c];
                            best = v > best || v != v ? v : best;  // NaN propagates, as in TF
                            sum += v;
                            ++count;
                        }
                    }
                    a.output[((b * a.out_h + oy) * a.out_w + ox) * a.channels + c] =
                        a.is_max ? best : sum / static_cast<float>(count);
                }
}

}  // namespace krun::ref
