// Graph::run and its activation arena. The first run with given input shapes infers every
// value's concrete shape and places all values (inputs, every node's outputs) in one arena by
// liveness: a value's space is reused once the last node reading it has run. Later runs with
// those shapes reuse the plan and the arena, so the graph allocates nothing but the returned
// outputs. Concurrent runs each take their own state from a small pool. A batch whose samples
// every layer computes alone (Layer::per_sample) runs sample by sample on the plan for one
// sample, whose activations stay in cache, the samples side by side on the OpenMP threads.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>

#include "graph.h"
#include "kernels/aligned.h"
#include "memory.h"

namespace krun {

namespace {

constexpr int64_t kAlignElements = 16;  // 64-byte aligned values
constexpr size_t kPooledStates = 8;     // states kept for reuse (the rest are freed after their run)

// Elements of a value of `shape` (`what` produces it), refusing unknown dimensions, overflow
// and more bytes than the machine has (as the Tensor constructor does).
int64_t element_count(const Shape & shape, const std::string & what) {
    int64_t n = 1;
    for (int64_t d : shape) {
        KRUN_CHECK(d >= 0, what, ": tensor shape ", shape_string(shape), " has an unknown or negative dimension");
        KRUN_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / 4 / d, what, ": tensor shape ",
                   shape_string(shape), " has too many elements");
        n *= d;
    }
    KRUN_CHECK(n <= physical_memory_bytes() / 4, what, ": tensor shape ", shape_string(shape), " needs ", n * 4,
               " bytes, more than the ", physical_memory_bytes(), " bytes of memory of this machine");
    return n;
}

}  // namespace

std::unique_ptr<Graph::RunState> Graph::plan(const std::vector<Shape> & input_shapes) const {
    auto state = std::make_unique<RunState>();
    state->input_shapes = input_shapes;
    std::vector<Spec> spec(specs_.size());
    for (size_t i = 0; i < input_values_.size(); ++i) spec[input_values_[i]] = {input_shapes[i], inputs_[i].dtype};
    for (const auto & [id, tensor] : constants_) spec[id] = {tensor.shape(), tensor.dtype()};
    std::vector<Spec> in_specs;
    auto one_sample = [&](int v) { return !spec[v].shape.empty() && spec[v].shape[0] == 1; };
    state->per_sample = std::all_of(input_values_.begin(), input_values_.end(), one_sample);
    for (const Node & node : nodes_) {
        in_specs.clear();
        for (int v : node.inputs) in_specs.push_back(spec[v]);
        const std::vector<Spec> out = node.layer->infer(in_specs);
        for (size_t o = 0; o < out.size(); ++o) spec[node.outputs[o]] = out[o];
        state->per_sample = state->per_sample && node.layer->per_sample(in_specs);
    }
    state->per_sample = state->per_sample && std::all_of(output_values_.begin(), output_values_.end(), [&](int v) {
        return one_sample(v) && !constants_.count(v);
    });

    // First fit in address order among the values alive at each node.
    struct Block {
        int64_t begin, end;
        int value;
    };
    std::vector<Block> live;  // sorted by begin
    std::vector<int64_t> offset(specs_.size(), -1);
    auto place = [&](int v, const Layer * producer) {
        const int64_t n = element_count(spec[v].shape, producer ? cat(producer->context(), ", output") : "model input");
        const int64_t size = std::max<int64_t>((n + kAlignElements - 1) / kAlignElements * kAlignElements, kAlignElements);
        int64_t at = 0;
        auto it = live.begin();
        for (; it != live.end() && it->begin - at < size; ++it) at = it->end;
        live.insert(it, {at, at + size, v});
        offset[v] = at;
        state->arena_elements = std::max(state->arena_elements, at + size);
    };
    auto release = [&](int v) {
        live.erase(std::remove_if(live.begin(), live.end(), [&](const Block & b) { return b.value == v; }), live.end());
    };
    std::vector<char> is_output(specs_.size(), 0);
    for (int v : output_values_) is_output[v] = 1;
    for (int v : input_values_) place(v, nullptr);
    for (size_t n = 0; n < nodes_.size(); ++n) {
        for (int v : nodes_[n].outputs) place(v, nodes_[n].layer);
        for (int v : nodes_[n].inputs)
            if (last_use_[v] == static_cast<int>(n) && !constants_.count(v)) release(v);
        for (int v : nodes_[n].outputs)
            if (last_use_[v] < 0 && !is_output[v]) release(v);  // never read
    }
    KRUN_CHECK(state->arena_elements <= physical_memory_bytes() / 4, "the activations need ", state->arena_elements * 4,
               " bytes, more than the ", physical_memory_bytes(), " bytes of memory of this machine");

    state->arena = cache_aligned_words(state->arena_elements, false);
    state->values.resize(specs_.size());
    for (size_t v = 0; v < specs_.size(); ++v) {
        if (offset[v] < 0) continue;
        Tensor & t = state->values[v];
        t.shape_ = spec[v].shape;
        t.size_ = element_count(t.shape_, "");  // checked by place()
        t.dtype_ = spec[v].dtype;
        t.storage_ = std::shared_ptr<uint32_t[]>(state->arena, state->arena.get() + offset[v]);  // aliasing: no allocation
    }
    for (const auto & [id, tensor] : constants_) state->values[id] = tensor;
    for (const Node & node : nodes_) {
        state->inputs.emplace_back();
        state->outputs.emplace_back();
        for (int v : node.inputs) state->inputs.back().push_back(&state->values[v]);
        for (int v : node.outputs) state->outputs.back().push_back(state->values[v]);
    }
    return state;
}

int64_t Graph::arena_bytes(const std::vector<Shape> & input_shapes) const {
    for (const Shape & s : input_shapes)
        if (std::any_of(s.begin(), s.end(), [](int64_t d) { return d < 0; })) return -1;
    try {
        return plan(input_shapes)->arena_elements * 4;
    } catch (const Error &) {
        return -1;  // shapes the model refuses
    }
}

std::unique_ptr<Graph::RunState> Graph::take_state(const std::vector<Tensor> & inputs, bool one_sample) const {
    auto planned_for = [&](const RunState & state) {
        for (size_t i = 0; i < inputs.size(); ++i) {
            const Shape & planned = state.input_shapes[i], & given = inputs[i].shape();
            if (planned.size() != given.size()) return false;
            for (size_t d = 0; d < given.size(); ++d)
                if (planned[d] != (one_sample && d == 0 ? 1 : given[d])) return false;
        }
        return true;
    };
    {
        std::lock_guard<std::mutex> lock(pool_mutex_);
        for (auto it = pool_.begin(); it != pool_.end(); ++it) {
            if (!planned_for(**it)) continue;
            std::unique_ptr<RunState> state = std::move(*it);
            pool_.erase(it);
            return state;
        }
    }
    std::vector<Shape> shapes;
    for (const Tensor & t : inputs) {
        shapes.push_back(t.shape());
        if (one_sample) shapes.back()[0] = 1;
    }
    return plan(shapes);
}

void Graph::give_back(std::unique_ptr<RunState> state) const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_.size() == kPooledStates) pool_.erase(pool_.begin());  // the oldest
    pool_.push_back(std::move(state));
}

void Graph::load_input(RunState & state, size_t i, const Tensor & given, int64_t offset, int64_t count) const {
    const TensorInfo & info = inputs_[i];
    Tensor & value = state.values[input_values_[i]];
    if (given.dtype() == info.dtype) {
        std::memcpy(value.storage_.get(), given.storage_.get() + offset, count * 4);
        return;
    }
    // Keras casts: integer inputs (Embedding indices) truncate floats; float inputs take ints.
    for (int64_t e = 0; e < count; ++e) {
        if (info.dtype == DType::Int32) {
            const float f = given.data()[offset + e];
            KRUN_CHECK(f == f && f > -2147483648.f && f < 2147483648.f, "input ", i, " ('", info.name, "'): value ", f,
                       " cannot be converted to int32");
            value.data_i32()[e] = static_cast<int32_t>(f);
        } else {
            value.data()[e] = static_cast<float>(given.data_i32()[offset + e]);
        }
    }
}

void Graph::execute(RunState & state, const NodeObserver & observer) const {
    const Kernels & kernels = *kernels_;
    for (size_t n = 0; n < nodes_.size(); ++n) {
        if (!nodes_[n].layer->writes_every_output())
            for (Tensor & out : state.outputs[n]) std::memset(out.storage_.get(), 0, out.size() * 4);
        nodes_[n].layer->run(state.inputs[n], state.outputs[n], kernels);
        if (observer) observer(n, state.outputs[n]);
    }
}

std::vector<Tensor> Graph::run_by_sample(const std::vector<Tensor> & inputs) const {
    const int64_t batch = inputs.empty() || inputs[0].rank() == 0 ? 0 : inputs[0].dim(0);
    for (const Tensor & t : inputs)
        if (batch < 2 || t.rank() == 0 || t.dim(0) != batch) return {};
    std::unique_ptr<RunState> state = take_state(inputs, true);
    if (!state->per_sample) {
        give_back(std::move(state));
        return {};
    }
    std::vector<Tensor> outputs;
    outputs.reserve(output_values_.size());
    for (int v : output_values_) {
        Shape shape = state->values[v].shape();
        shape[0] = batch;
        outputs.push_back(Tensor::uninitialized(std::move(shape), state->values[v].dtype()));
    }
    auto run_sample = [&](RunState & on, int64_t s) {
        for (size_t i = 0; i < inputs.size(); ++i) {
            const int64_t count = inputs[i].size() / batch;
            load_input(on, i, inputs[i], s * count, count);
        }
        execute(on, nullptr);
        for (size_t k = 0; k < outputs.size(); ++k) {
            const Tensor & value = on.values[output_values_[k]];
            std::memcpy(outputs[k].storage_.get() + s * value.size(), value.storage_.get(), value.size() * 4);
        }
    };
    const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), batch));
    if (threads <= 1) {
        for (int64_t s = 0; s < batch; ++s) run_sample(*state, s);
        give_back(std::move(state));
        return outputs;
    }
    // Several threads: samples side by side, each thread on its own state with one thread inside
    // the kernels (no barrier per kernel call).
    give_back(std::move(state));
    std::exception_ptr error;
#pragma omp parallel num_threads(threads)
    {
        omp_set_num_threads(1);  // this thread's kernel calls only (ICVs are per task)
        std::unique_ptr<RunState> own;
#pragma omp for schedule(dynamic)
        for (int64_t s = 0; s < batch; ++s) {
            try {
                if (!own) own = take_state(inputs, true);
                run_sample(*own, s);
            } catch (...) {
#pragma omp critical(krun_sample_error)
                if (!error) error = std::current_exception();
            }
        }
        if (own) give_back(std::move(own));
    }
    if (error) std::rethrow_exception(error);
    return outputs;
}

std::vector<Tensor> Graph::run(const std::vector<Tensor> & inputs, const NodeObserver & observer) const {
    KRUN_CHECK(inputs.size() == input_values_.size(), "model expects ", input_values_.size(), " input(s), got ",
               inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
        const TensorInfo & info = inputs_[i];
        const Tensor & given = inputs[i];
        bool match = given.rank() == static_cast<int64_t>(info.shape.size());
        for (size_t d = 0; match && d < info.shape.size(); ++d)
            match = info.shape[d] < 0 || info.shape[d] == given.shape()[d];
        KRUN_CHECK(match, "input ", i, " ('", info.name, "'): expected shape ", shape_string(info.shape), ", got ",
                   shape_string(given.shape()));
    }
    if (!observer) {
        std::vector<Tensor> outputs = run_by_sample(inputs);
        if (!outputs.empty()) return outputs;
    }
    std::unique_ptr<RunState> state = take_state(inputs, false);
    for (size_t i = 0; i < inputs.size(); ++i) load_input(*state, i, inputs[i], 0, inputs[i].size());
    execute(*state, observer);
    std::vector<Tensor> outputs;
    outputs.reserve(output_values_.size());
    for (int v : output_values_) outputs.push_back(state->values[v].clone());
    give_back(std::move(state));
    return outputs;
}

}  // namespace krun
