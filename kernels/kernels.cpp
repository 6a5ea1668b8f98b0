#include "kernels/kernels.h"

#include "kernels/ref/ref.h"

namespace krun {

const Kernels & kernels_ref() {
    static const Kernels table{"reference", ref::gemm, ref::conv2d, ref::depthwise_conv2d, ref::pool2d,
                               ref::unary, ref::binary, ref::softmax, ref::conv2d_transpose,
                               ref::resize_bilinear, ref::packed_b_size, ref::pack_b, ref::expand_depthwise};
    return table;
}

}  // namespace krun
