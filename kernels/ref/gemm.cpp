#include "kernels/ref/ref.h"

namespace krun::ref {

void gemm(const GemmArgs & g) {
    for (int64_t i = 0; i < g.m; ++i) {
        for (int64_t j = 0; j < g.n; ++j) {
            float acc = 0.f;
            for (int64_t p = 0; p < g.k; ++p) acc += g.a[i * g.lda + p] * g.b[p * g.ldb + j];
            float & c = g.c[i * g.ldc + j];
            if (g.accumulate) acc = c + acc;
            c = g.bias ? acc + g.bias[j] : acc;
        }
    }
}

}  // namespace krun::ref
