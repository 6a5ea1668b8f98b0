// The parity rule shared by `krun --expect` and the tests: an element passes when
// |got - expected| <= atol + rtol * |expected|; NaN matches NaN only, an infinity the same
// infinity only; another shape fails.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "krun/krun.h"

namespace krun {

struct Parity {
    bool shape_ok = true;
    int64_t failures = 0;   // elements outside the tolerance
    double max_abs = 0;     // largest |got - expected| over non-NaN pairs
    double max_rel = 0;     // largest |got - expected| / |expected| over expected != 0
    int64_t worst = -1;     // flat index furthest outside the tolerance (or closest to it); -1 if empty
    double worst_got = 0, worst_expected = 0;
    bool ok() const { return shape_ok && failures == 0; }
};

// Element `i` of a float32 or int32 tensor.
inline double element_value(const Tensor & t, int64_t i) {
    return t.dtype() == DType::Int32 ? t.data_i32()[i] : t.data()[i];
}

inline Parity compare_parity(const Tensor & got, const Tensor & expected, double atol, double rtol) {
    Parity p;
    if (got.shape() != expected.shape()) {
        p.shape_ok = false;
        return p;
    }
    const double inf = std::numeric_limits<double>::infinity();
    double worst_excess = -inf;
    for (int64_t i = 0; i < got.size(); ++i) {
        const double g = element_value(got, i), e = element_value(expected, i);
        double excess;
        if (std::isnan(g) || std::isnan(e)) {
            excess = std::isnan(g) && std::isnan(e) ? -inf : inf;
        } else if (std::isinf(g) || std::isinf(e)) {
            excess = g == e ? -inf : inf;  // an infinity matches only the same infinity
        } else {
            const double diff = std::fabs(g - e);
            p.max_abs = std::max(p.max_abs, diff);
            if (e != 0) p.max_rel = std::max(p.max_rel, diff / std::fabs(e));
            excess = diff - (atol + rtol * std::fabs(e));
        }
        if (excess > 0) ++p.failures;
        if (p.worst < 0 || excess > worst_excess) {
            worst_excess = excess;
            p.worst = i;
            p.worst_got = g;
            p.worst_expected = e;
        }
    }
    return p;
}

}  // namespace krun
