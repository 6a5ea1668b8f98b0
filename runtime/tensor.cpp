#include <cassert>
#include <cstring>
#include <limits>

#include "error.h"
#include "kernels/aligned.h"
#include "memory.h"

namespace krun {

const char * dtype_name(DType dtype) { return dtype == DType::Int32 ? "int32" : "float32"; }

// Element count of `shape`, refusing negative dimensions, 64-bit overflow and more bytes than the
// machine has.
static int64_t checked_size(const std::vector<int64_t> & shape) {
    int64_t size = 1;
    for (int64_t d : shape) {
        KRUN_CHECK(d >= 0, "tensor shape ", shape_string(shape), " has a negative dimension");
        KRUN_CHECK(d == 0 || size <= std::numeric_limits<int64_t>::max() / 4 / d,
                   "tensor shape ", shape_string(shape), " has too many elements");
        size *= d;
    }
    KRUN_CHECK(size <= physical_memory_bytes() / 4, "tensor shape ", shape_string(shape), " needs ", size * 4,
               " bytes, more than the ", physical_memory_bytes(), " bytes of memory of this machine");
    return size;
}

Tensor::Tensor(std::vector<int64_t> shape, DType dtype)
    : shape_(std::move(shape)), size_(checked_size(shape_)), dtype_(dtype),
      storage_(cache_aligned_words(size_, true)) {}

Tensor::Tensor(std::vector<int64_t> shape, const std::vector<float> & values) : Tensor(std::move(shape)) {
    KRUN_CHECK(static_cast<int64_t>(values.size()) == size_, "tensor of shape ", shape_string(shape_),
               " needs ", size_, " values, got ", values.size());
    std::memcpy(storage_.get(), values.data(), values.size() * sizeof(float));
}

int64_t Tensor::dim(int64_t axis) const {
    if (axis < 0) axis += rank();
    assert(axis >= 0 && axis < rank());
    return shape_[axis];
}

float * Tensor::data() {
    assert(dtype_ == DType::Float32);
    return reinterpret_cast<float *>(storage_.get());
}
const float * Tensor::data() const {
    assert(dtype_ == DType::Float32);
    return reinterpret_cast<const float *>(storage_.get());
}
int32_t * Tensor::data_i32() {
    assert(dtype_ == DType::Int32);
    return reinterpret_cast<int32_t *>(storage_.get());
}
const int32_t * Tensor::data_i32() const {
    assert(dtype_ == DType::Int32);
    return reinterpret_cast<const int32_t *>(storage_.get());
}

Tensor Tensor::reshaped(std::vector<int64_t> shape) const {
    KRUN_CHECK(checked_size(shape) == size_, "cannot reshape ", shape_string(shape_), " to ",
               shape_string(shape));
    Tensor view = *this;
    view.shape_ = std::move(shape);
    return view;
}

Tensor Tensor::uninitialized(std::vector<int64_t> shape, DType dtype) {
    Tensor t;
    t.shape_ = std::move(shape);
    t.size_ = checked_size(t.shape_);
    t.dtype_ = dtype;
    t.storage_ = cache_aligned_words(t.size_, false);
    return t;
}

Tensor Tensor::clone() const {
    Tensor copy = uninitialized(shape_, dtype_);
    std::memcpy(copy.storage_.get(), storage_.get(), size_ * 4);
    return copy;
}

std::string shape_string(const std::vector<int64_t> & shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += shape[i] < 0 ? "None" : std::to_string(shape[i]);
    }
    return s + "]";
}

}  // namespace krun
