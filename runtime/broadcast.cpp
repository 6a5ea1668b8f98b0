#include "broadcast.h"

#include <algorithm>
#include <array>
#include <cassert>

namespace krun {

Shape broadcast_shape(const Shape & a, const Shape & b, const std::string & context) {
    const size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (size_t i = 0; i < rank; ++i) {
        // Dimension i of the output, counted from the left of the longer shape.
        const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
        const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
        if (da == 1 || da == db) out[i] = db;
        else if (db == 1) out[i] = da;
        else if (da < 0) out[i] = db;
        else if (db < 0) out[i] = da;
        else fail(context, ": shapes ", shape_string(a), " and ", shape_string(b), " cannot be broadcast together");
    }
    return out;
}

namespace {

// One output dimension after merging: its size and each operand's element stride (0 when the
// operand is broadcast along it).
struct Dim {
    int64_t size;
    int64_t a_stride, b_stride;
};

}  // namespace

void broadcast_binary(Binary op, const Tensor & a, const Tensor & b, Tensor & y, const Kernels & kernels) {
    if (y.size() == 0) return;
    const Shape & out = y.shape();
    const size_t rank = out.size();
    auto dim_of = [rank](const Tensor & t, size_t i) {
        const size_t r = static_cast<size_t>(t.rank());
        return i + r >= rank ? t.shape()[i + r - rank] : int64_t{1};
    };
    // Walk the dimensions from the innermost, dropping size-1 output dimensions and merging
    // neighbours where both operands are either full or broadcast, so runs are as long as possible.
    // Fixed-size: no allocation per call. At most one merged dimension per output dimension, and
    // the layers' infer() admit ranks up to 8.
    constexpr size_t kMaxRank = 16;
    assert(rank <= kMaxRank);
    std::array<Dim, kMaxRank> dims;  // innermost first
    size_t count = 0;
    int64_t a_stride = 1, b_stride = 1;
    for (size_t k = rank; k-- > 0;) {
        if (out[k] == 1) continue;
        const bool a_full = dim_of(a, k) != 1, b_full = dim_of(b, k) != 1;
        const Dim d{out[k], a_full ? a_stride : 0, b_full ? b_stride : 0};
        // Same pattern as the inner neighbour: one longer dimension (strides stay those of the inner).
        if (count > 0 && (dims[count - 1].a_stride != 0) == a_full && (dims[count - 1].b_stride != 0) == b_full) {
            dims[count - 1].size *= d.size;
        } else {
            dims[count++] = d;
        }
        if (a_full) a_stride *= out[k];
        if (b_full) b_stride *= out[k];
    }
    if (count == 0) dims[count++] = {1, 0, 0};

    // The innermost two dimensions form one block, walked row by row; the outer ones are walked
    // like an odometer. A short row of one operand repeated down the block (a squeeze-and-excite
    // scale [C] over [H*W, C]) is first repeated in a stack buffer, so the kernel gets long runs:
    // one call per row of 16 channels costs more than the row's math.
    const Dim inner = dims[0];
    const Dim rows = count > 1 ? dims[1] : Dim{1, 0, 0};
    const bool a_repeats = inner.a_stride == 1 && rows.a_stride == 0 && inner.b_stride == 1 && rows.b_stride == inner.size;
    const bool b_repeats = inner.b_stride == 1 && rows.b_stride == 0 && inner.a_stride == 1 && rows.a_stride == inner.size;
    constexpr int64_t kRepeatFloats = 1024;
    const int64_t rows_per_call =
        a_repeats || b_repeats ? std::clamp<int64_t>(kRepeatFloats / inner.size, 1, rows.size) : 1;
    std::array<float, kRepeatFloats> repeated;
    const float * pa = a.data();
    const float * pb = b.data();
    const int64_t blocks = y.size() / (inner.size * rows.size);
    std::array<int64_t, kMaxRank> index{};
    float * py = y.data();
    for (int64_t block = 0; block < blocks; ++block) {
        if (rows_per_call > 1) {
            const float * row = a_repeats ? pa : pb;
            for (int64_t r = 0; r < rows_per_call; ++r) std::copy(row, row + inner.size, repeated.data() + r * inner.size);
        }
        for (int64_t r = 0; r < rows.size; r += rows_per_call) {
            const int64_t n = std::min(rows_per_call, rows.size - r) * inner.size;
            const float * ra = a_repeats && rows_per_call > 1 ? repeated.data() : pa + r * rows.a_stride;
            const float * rb = b_repeats && rows_per_call > 1 ? repeated.data() : pb + r * rows.b_stride;
            kernels.binary(op, ra, inner.a_stride, rb, inner.b_stride, py, n);
            py += n;
        }
        // Advance the outer multi-index (dims[2..]) like an odometer.
        for (size_t d = 2; d < count; ++d) {
            pa += dims[d].a_stride;
            pb += dims[d].b_stride;
            if (++index[d] < dims[d].size) break;
            pa -= dims[d].a_stride * dims[d].size;
            pb -= dims[d].b_stride * dims[d].size;
            index[d] = 0;
        }
    }
}

}  // namespace krun
