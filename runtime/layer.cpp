#include "layer.h"

namespace krun {

void Layer::prepare() {
    for (WeightSlot & w : weights_) {
        KRUN_CHECK(w.bound(), context(), ": weight '", w.name, w.scope_hint.empty() ? "" : " (" + w.scope_hint + ")",
                   "' was not found in the weightsManifest");
        w.shape = w.value.shape();
    }
}

int64_t Layer::parameter_count() const {
    int64_t n = 0;
    for (const WeightSlot & w : weights_) {
        int64_t size = 1;
        for (int64_t d : w.shape) size *= d;
        n += w.bound() ? size : 0;
    }
    return n;
}

size_t Layer::declare_weight(const std::string & name, const std::string & keras_path,
                             const std::string & scope_hint) {
    WeightSlot slot;
    slot.name = name;
    slot.keras_path = keras_path.empty() ? cat("vars/", weights_.size()) : keras_path;
    slot.scope_hint = scope_hint;
    weights_.push_back(std::move(slot));
    return weights_.size() - 1;
}

void Layer::check_weight(size_t slot, const Shape & shape, const std::string & why) const {
    const WeightSlot & w = weights_[slot];
    KRUN_CHECK(w.shape == shape, context(), ": weight '", w.source, "' has shape ", shape_string(w.shape), ", expected ", shape_string(shape), " (", why, ")");
}

void Layer::check_input_count(const std::vector<Spec> & inputs, size_t count) const {
    KRUN_CHECK(inputs.size() == count, context(), ": expects ", count, " input(s), got ", inputs.size());
}

void Layer::check_float_input(const std::vector<Spec> & inputs, size_t i, int64_t min_rank, int64_t max_rank) const {
    const Spec & s = inputs.at(i);
    KRUN_CHECK(s.dtype == DType::Float32, context(), ": input ", i, " must be float32, got ", dtype_name(s.dtype));
    const int64_t rank = static_cast<int64_t>(s.shape.size());
    KRUN_CHECK(rank >= min_rank && rank <= max_rank, context(), ": input ", i, " has shape ",
               shape_string(s.shape), ", expected rank ",
               min_rank == max_rank ? std::to_string(min_rank) : cat(min_rank, " to ", max_rank));
}

bool spares_batch_axis(const std::vector<int64_t> & axes, int64_t rank) {
    for (int64_t a : axes)
        if (a == 0 || a + rank == 0) return false;
    return true;
}

}  // namespace krun
