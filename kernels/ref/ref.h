// The scalar reference kernels (declarations; one .cpp per family in this folder).
#pragma once

#include "kernels/kernels.h"

namespace krun::ref {

void gemm(const GemmArgs & args);
void conv2d(const Conv2dArgs & args);
void depthwise_conv2d(const DepthwiseConv2dArgs & args);
void pool2d(const Pool2dArgs & args);
void unary(const UnaryArgs & op, const float * x, float * y, int64_t n);
void binary(Binary op, const float * a, int64_t a_step, const float * b, int64_t b_step, float * y, int64_t n);
void softmax(const float * x, float * y, int64_t outer, int64_t axis_len, int64_t inner, bool log);
void conv2d_transpose(const ConvTranspose2dArgs & args);
void resize_bilinear(const ResizeArgs & args);

}  // namespace krun::ref
