// Keras activation names (the `activation` key of Dense, Conv*, RNNs, the Activation layer),
// mapped once to a kernel call with the formula of the Keras version that wrote the file.
#pragma once

#include <string>

#include "layer.h"

namespace krun {

struct Activation {
    enum class Kind { Elementwise, Softmax, LogSoftmax, Glu, Sparsemax };
    Kind kind = Kind::Elementwise;
    UnaryArgs unary;  // for Elementwise
    std::string name;

    bool is_linear() const { return kind == Kind::Elementwise && unary.op == Unary::Linear; }
};

// `value` is the config value (a string, null, or a {"class_name", "config"} object).
// Throws naming `context` for an unknown activation.
Activation parse_activation(const Json & value, KerasVersion keras, const std::string & context);

// Reads `key` of the layer's config (absent or null: linear).
Activation parse_activation(const LayerDesc & desc, const std::string & key, const std::string & fallback = "linear");

// Applies `act` to `n` elements whose last axis has length `last_dim` (x == y allowed, except
// for Glu, which halves the last axis: `y` then holds n / 2 elements and must not alias `x`).
void apply_activation(const Activation & act, const float * x, float * y, int64_t n, int64_t last_dim,
                      const Kernels & kernels);

}  // namespace krun
