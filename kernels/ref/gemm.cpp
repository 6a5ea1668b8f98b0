#include <algorithm>

#include "kernels/ref/ref.h"

namespace krun::ref {

void gemm(const GemmArgs & g) {
    for (int64_t i = 0; i < g.m; ++i) {
        float * row = g.c + i * g.ldc;
        for (int64_t j = 0; j < g.n; ++j) {
            float acc = 0.f;
            for (int64_t p = 0; p < g.k; ++p) acc += g.a[i * g.lda + p] * g.b[p * g.ldb + j];
            if (g.accumulate) acc = row[j] + acc;
            row[j] = g.bias ? acc + g.bias[j] : acc;
        }
        epilogue(g.epilogue, row, g.epilogue.residual ? g.epilogue.residual + i * g.ldc : nullptr, g.n);
    }
}

// The reference layout is the plain row-major one (so a packed b has ldb == n).
int64_t packed_b_size(int64_t k, int64_t n) { return k * n; }

void pack_b(const float * b, int64_t k, int64_t n, const double * column_scale, float * packed) {
    for (int64_t p = 0; p < k; ++p)
        for (int64_t j = 0; j < n; ++j)
            packed[p * n + j] = column_scale ? static_cast<float>(b[p * n + j] * column_scale[j]) : b[p * n + j];
}

void epilogue(const Epilogue & e, float * y, const float * residual, int64_t n) {
    if (e.activation.op != Unary::Linear) unary(e.activation, y, y, n);
    if (residual)
        for (int64_t i = 0; i < n; ++i) y[i] += residual[i];
}

}  // namespace krun::ref
