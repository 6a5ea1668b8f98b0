// Keras ZeroPadding1D/2D, Cropping1D/2D (int, pair, or pair of pairs), UpSampling1D (size) and
// UpSampling2D (size, interpolation nearest/bilinear), channels_last only. All are a pixel map on
// the 2D view of the input (1D: height 1). Kernel: resize_bilinear (UpSampling2D bilinear).
#include <algorithm>
#include <array>

#include "layers/factories.h"

namespace krun {

namespace {

using Sides = std::array<std::array<int64_t, 2>, 2>;  // [height, width][before, after]

int64_t spatial_rank(const LayerDesc & desc) { return desc.class_name.find("1D") != std::string::npos ? 1 : 2; }

// The padding/cropping amounts of `key`: an int (every side), a pair ([before, after] in 1D; one
// value per axis in 2D), or a pair of [before, after] pairs (2D). 1D fills the width.
Sides parse_sides(const Config & cfg, const std::string & key, int64_t rank) {
    const Json v = cfg.json().value(key, Json());
    auto integer = [&](const Json & e) {
        if (!e.is_number_integer() || e.get<int64_t>() < 0)
            cfg.error(cat("'", key, "' should hold non-negative integers, found ", v.dump()));
        return e.get<int64_t>();
    };
    Sides sides{};
    if (v.is_number()) {
        const int64_t n = integer(v);
        sides = {{{rank == 2 ? n : 0, rank == 2 ? n : 0}, {n, n}}};
    } else if (v.is_array() && v.size() == 2 && rank == 1) {
        sides[1] = {integer(v[0]), integer(v[1])};
    } else if (v.is_array() && v.size() == 2) {
        for (size_t axis = 0; axis < 2; ++axis) {
            const Json & e = v[axis];
            if (e.is_array() && e.size() == 2) sides[axis] = {integer(e[0]), integer(e[1])};
            else sides[axis] = {integer(e), integer(e)};
        }
    } else {
        cfg.error(cat("'", key, "' should be an integer, a pair or a pair of pairs, found ", v.dump()));
    }
    return sides;
}

// Output pixel (y, x) of the 2D view is input pixel ((y - shift_h) / repeat_h, (x - shift_w) /
// repeat_w), zero outside the input; or, for bilinear, tf.image.resize of the input.
// Output extent per axis: input * repeat + grow.
class PixelMap : public Layer {
public:
    bool per_sample(const std::vector<Spec> &) const override { return true; }
    PixelMap(const LayerDesc & desc, std::array<int64_t, 2> shift, std::array<int64_t, 2> grow,
             std::array<int64_t, 2> repeat, bool bilinear)
        : Layer(desc.name, desc.class_name), rank_(spatial_rank(desc)), shift_(shift), grow_(grow), repeat_(repeat),
          bilinear_(bilinear) {
        const std::string format = desc.cfg().string("data_format", "channels_last");
        KRUN_CHECK(format == "channels_last", context(), ": only data_format 'channels_last' is supported, got '",
                   format, "'");
    }

    std::vector<Spec> infer(const std::vector<Spec> & inputs) const override {
        check_input_count(inputs, 1);
        check_float_input(inputs, 0, rank_ + 2, rank_ + 2);
        Shape out = inputs[0].shape;
        for (int64_t axis = 0; axis < rank_; ++axis) {
            const int64_t in = out[axis + 1];
            if (in < 0) continue;
            const int64_t a = axis + 2 - rank_;  // index into [height, width]
            out[axis + 1] = in * repeat_[a] + grow_[a];
            KRUN_CHECK(out[axis + 1] > 0 || grow_[a] >= 0, context(), ": input ", shape_string(inputs[0].shape),
                       " is too small for cropping ", -grow_[a], " along axis ", axis + 1);
        }
        return {{out}};
    }

    void run(const std::vector<const Tensor *> & inputs, std::vector<Tensor> & outputs,
             const Kernels & kernels) const override {
        const Tensor & x = *inputs[0];
        Tensor & y = outputs[0];
        const int64_t batch = x.dim(0), channels = x.dim(-1);
        const int64_t in_h = rank_ == 2 ? x.dim(1) : 1, in_w = x.dim(rank_);
        const int64_t out_h = rank_ == 2 ? y.dim(1) : 1, out_w = y.dim(rank_);
        if (bilinear_) {
            kernels.resize_bilinear({batch, in_h, in_w, channels, out_h, out_w, x.data(), y.data()});
            return;
        }
        for (int64_t b = 0; b < batch; ++b)
            for (int64_t oy = 0; oy < out_h; ++oy)
                for (int64_t ox = 0; ox < out_w; ++ox) {
                    const int64_t iy = source(oy, 0), ix = source(ox, 1);
                    float * out = y.data() + ((b * out_h + oy) * out_w + ox) * channels;
                    if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                        std::fill(out, out + channels, 0.f);
                        continue;
                    }
                    const float * in = x.data() + ((b * in_h + iy) * in_w + ix) * channels;
                    std::copy(in, in + channels, out);
                }
    }

    bool as_zero_padding_2d(int64_t & top, int64_t & bottom, int64_t & left, int64_t & right) const override {
        if (rank_ != 2 || bilinear_ || repeat_ != std::array<int64_t, 2>{1, 1}) return false;
        top = shift_[0];
        bottom = grow_[0] - shift_[0];
        left = shift_[1];
        right = grow_[1] - shift_[1];
        return top >= 0 && bottom >= 0 && left >= 0 && right >= 0;
    }

private:
    // Input index of output index `o` along [height, width] axis `a` (may be outside the input).
    int64_t source(int64_t o, int a) const {
        const int64_t shifted = o - shift_[a];
        return shifted < 0 ? -1 : shifted / repeat_[a];
    }

    int64_t rank_;
    std::array<int64_t, 2> shift_, grow_, repeat_;  // [height, width]; 1D: height 0, 0, 1
    bool bilinear_;
};

}  // namespace

std::unique_ptr<Layer> make_zero_padding(const LayerDesc & desc) {
    const Sides pad = parse_sides(desc.cfg(), "padding", spatial_rank(desc));
    return std::make_unique<PixelMap>(desc, std::array<int64_t, 2>{pad[0][0], pad[1][0]},
                                      std::array<int64_t, 2>{pad[0][0] + pad[0][1], pad[1][0] + pad[1][1]},
                                      std::array<int64_t, 2>{1, 1}, false);
}

std::unique_ptr<Layer> make_cropping(const LayerDesc & desc) {
    const Sides crop = parse_sides(desc.cfg(), "cropping", spatial_rank(desc));
    return std::make_unique<PixelMap>(desc, std::array<int64_t, 2>{-crop[0][0], -crop[1][0]},
                                      std::array<int64_t, 2>{-crop[0][0] - crop[0][1], -crop[1][0] - crop[1][1]},
                                      std::array<int64_t, 2>{1, 1}, false);
}

std::unique_ptr<Layer> make_upsampling(const LayerDesc & desc) {
    const Config cfg = desc.cfg();
    const int64_t rank = spatial_rank(desc);
    std::vector<int64_t> size = cfg.integers("size", rank, 2);
    for (int64_t s : size)
        KRUN_CHECK(s > 0, desc.context(), ": size must be positive, got ", cfg.json().value("size", Json()).dump());
    if (rank == 1) size.insert(size.begin(), 1);
    const std::string interpolation = rank == 2 ? cfg.string("interpolation", "nearest") : "nearest";
    KRUN_CHECK(interpolation == "nearest" || interpolation == "bilinear", desc.context(), ": interpolation '",
               interpolation, "' is not supported, expected 'nearest' or 'bilinear'");
    return std::make_unique<PixelMap>(desc, std::array<int64_t, 2>{0, 0}, std::array<int64_t, 2>{0, 0},
                                      std::array<int64_t, 2>{size[0], size[1]}, interpolation == "bilinear");
}

}  // namespace krun
