// krun: run Keras models converted to the TensorFlow.js layers-model format (model.json + shards).
//
// The whole public API: load a model, run it on float32/int32 tensors, read its outputs.
// Every failure (bad file, unsupported layer, wrong input shape) throws krun::Error with one
// message naming the file, the layer or weight, what was expected and what was found.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace krun {

// The one exception type krun throws.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string & message) : std::runtime_error(message) {}
};

enum class DType { Float32, Int32 };

const char * dtype_name(DType dtype);

// A dense, row-major (C order) tensor. Copies share storage (like a handle); use clone() for a
// deep copy. Dimensions are in Keras order (batch first, channels last).
class Tensor {
public:
    Tensor() = default;
    // A zero-filled tensor. Throws krun::Error for negative dimensions or an element count that
    // overflows.
    explicit Tensor(std::vector<int64_t> shape, DType dtype = DType::Float32);
    // A float32 tensor holding `values` (values.size() must equal the product of `shape`).
    Tensor(std::vector<int64_t> shape, const std::vector<float> & values);
    // A tensor whose elements the caller writes (no zero fill): for large tensors filled at once.
    static Tensor uninitialized(std::vector<int64_t> shape, DType dtype = DType::Float32);

    const std::vector<int64_t> & shape() const { return shape_; }
    int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
    int64_t dim(int64_t axis) const;  // axis may be negative, counted from the end
    int64_t size() const { return size_; }
    DType dtype() const { return dtype_; }

    // Element access. data() requires Float32, data_i32() requires Int32 (checked by assert).
    float * data();
    const float * data() const;
    int32_t * data_i32();
    const int32_t * data_i32() const;

    // A view of the same storage with another shape of equal element count.
    Tensor reshaped(std::vector<int64_t> shape) const;
    Tensor clone() const;

private:
    friend class Graph;  // places the activations of a run in one arena (runtime/run.cpp)
    std::vector<int64_t> shape_;
    int64_t size_ = 0;
    DType dtype_ = DType::Float32;
    std::shared_ptr<uint32_t[]> storage_;  // 4-byte elements: float32 or int32
};

// "[2, 224, 224, 3]"; unknown dimensions (-1) print as "None", as Keras does.
std::string shape_string(const std::vector<int64_t> & shape);

// One model input or output: Keras layer name and its shape, -1 where unknown (batch, time).
struct TensorInfo {
    std::string name;
    std::vector<int64_t> shape;
    DType dtype = DType::Float32;
};

struct Options {
    int threads = 0;                 // 0: OpenMP default (all cores)
    bool reference_kernels = false;  // run the scalar reference kernels instead of the fast ones
};

class Graph;

class Model {
public:
    // Reads model.json and the weight shards it names (relative to its folder), builds the graph
    // and binds every weight. Throws krun::Error on any problem.
    static Model load(const std::string & model_json_path, const Options & options = {});

    // Runs the model. `inputs` are in the order of inputs(); shapes must match the model's
    // known dimensions. Returns the outputs in the order of outputs(). Safe to call from
    // several threads at once on the same Model.
    std::vector<Tensor> run(const std::vector<Tensor> & inputs) const;

    const std::vector<TensorInfo> & inputs() const;
    const std::vector<TensorInfo> & outputs() const;

    // The layer table (name, class, output shape, parameters) and the weight binding report.
    std::string summary() const;
    // Producer as read from the file, e.g. "keras 2.15.0 / TensorFlow.js Converter v4.22.0".
    std::string producer() const;

private:
    std::shared_ptr<const Graph> graph_;
};

}  // namespace krun
