// NumPy broadcasting for element-wise binary ops (merge layers, TFOpLambda math, Keras 3 ops):
// shapes are aligned at the right, size-1 dimensions stretch. The math itself is kernels.binary,
// called once per contiguous run of the output.
#pragma once

#include <string>

#include "layer.h"

namespace krun {

// The broadcast shape of `a` and `b`; -1 (unknown) dimensions stay -1 unless the other side
// fixes them. Throws naming `context` when two known dimensions differ and neither is 1.
Shape broadcast_shape(const Shape & a, const Shape & b, const std::string & context);

// y = a (op) b, where y has shape broadcast_shape(a.shape(), b.shape()). y may alias a or b
// when it has the same shape. Float32 tensors; does not throw.
void broadcast_binary(Binary op, const Tensor & a, const Tensor & b, Tensor & y, const Kernels & kernels);

}  // namespace krun
