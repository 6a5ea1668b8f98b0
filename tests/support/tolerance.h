// Every tolerance the tests use, with the reason for its value. An element passes when
// |got - expected| <= atol + rtol * |expected| (the rule of `krun --expect`).
#pragma once

namespace krun::test {

// Fixture outputs vs Keras (TF CPU, float32): same operations in the same order, but fast kernels
// sum in a different order (SIMD lanes, blocked GEMM) and libm differs from Eigen's exp/tanh;
// the CLI's --expect defaults are the same values.
constexpr double kModelAtol = 1e-4;
constexpr double kModelRtol = 1e-3;

// Fast kernels vs the reference kernels (tests/test_kernels.cpp), per element of a sum of `terms`
// products: |fast - reference| <= kFastSumRtolPerTerm * (terms + 2) * (sum of |a*b| + |bias| +
// |residual|). Each of the two sums (FMA, other order) is within terms * 2^-24 of the exact one
// relative to its sum of |terms| (Higham's bound); the epilogue activations stretch an error by at
// most 1.5 (hard-swish) and add a rounding or two, hence 4 * 2^-24 per term.
constexpr double kFastSumRtolPerTerm = 4.0 / (1 << 24);

// Fast sigmoid, tanh and swish (xsimd's vector exp and tanh) vs the reference (libm): within 2
// ulps each, plus the roundings of 1 / (1 + e) and x * s; and the vector exp overflows a little
// before libm's, so sigmoid(x < -88.37) gives 0 where libm gives a value below 1e-38 (and
// swish, x times that, below 1e-36).
constexpr double kFastTranscendentalAtol = 1e-35;
constexpr double kFastTranscendentalRtol = 6.0 / (1 << 24);

// The fast path (folded BatchNormalization, fused epilogues) against the reference kernels on the
// same input: folding rounds w * gamma / sqrt(var + eps) once instead of normalizing each output,
// a few float32 ulps per layer that grow through ~50 layers of a MobileNet; far below kModel*.
constexpr double kFusedAtol = 1e-5;
constexpr double kFusedRtol = 1e-4;

// A sample run alone and inside a batch of 8 or 32: the kernels may block and sum several rows
// (samples) together in another order than one alone; a few ulps.
constexpr double kBatchAtol = 1e-6;
constexpr double kBatchRtol = 1e-5;

// Hand-built loader models (tests/test_loader.cpp) use small integers and exactly representable
// values and compare with ==: any difference there is a binding or decoding bug.

}  // namespace krun::test
