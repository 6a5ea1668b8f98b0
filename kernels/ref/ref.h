// The scalar reference kernels (declarations; one .cpp per family in this folder).
#pragma once

#include "kernels/kernels.h"

namespace krun::ref {

void gemm(const GemmArgs & args);
void conv2d(const Conv2dArgs & args);
void depthwise_conv2d(const DepthwiseConv2dArgs & args);
void expand_depthwise(const Conv2dArgs & expand, const DepthwiseConv2dArgs & depthwise);
void pool2d(const Pool2dArgs & args);
void unary(const UnaryArgs & op, const float * x, float * y, int64_t n);
void binary(Binary op, const float * a, int64_t a_step, const float * b, int64_t b_step, float * y, int64_t n);
void softmax(const float * x, float * y, int64_t outer, int64_t axis_len, int64_t inner, bool log);
void conv2d_transpose(const ConvTranspose2dArgs & args);
void resize_bilinear(const ResizeArgs & args);
int64_t packed_b_size(int64_t k, int64_t n);
void pack_b(const float * b, int64_t k, int64_t n, const double * column_scale, float * packed);

// Applies the epilogue to n consecutive output values y (residual: the matching n values).
void epilogue(const Epilogue & e, float * y, const float * residual, int64_t n);

}  // namespace krun::ref
