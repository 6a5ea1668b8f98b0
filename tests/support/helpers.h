// Test helpers: temporary folders, hand-written model.json files and weight shards, and the
// element-wise comparison the parity tests share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "krun/krun.h"
#include "tools/parity.h"

namespace krun::test {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// A fresh directory under the system temporary directory, removed with its contents on
// destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir & operator=(const TempDir &) = delete;
    const fs::path & path() const { return path_; }
    std::string operator/(const std::string & name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

// A folder of models/ (KRUN_MODELS_DIR) with a model.json.
struct Fixture {
    std::string name;
    std::string model_json;
    std::vector<std::string> inputs, expected;  // input_0.npy, input_1.npy, ... in index order
    bool expect_error = false;       // fixture.json has "expect_error": krun must refuse the file
    bool expect_divergence = false;  // "expect_divergence": broken weights, outputs must differ
};

// Every fixture, sorted by name (none when the folder is absent).
std::vector<Fixture> fixtures();
// The fixture called `name`.
Fixture fixture(const std::string & name);
// The .npy files at `paths`, read.
std::vector<Tensor> read_all(const std::vector<std::string> & paths);

// The message of the krun::Error that running `model` on `inputs` / reading the .npy file at
// `path` throws, or "" when it succeeds.
std::string run_error(const Model & model, const std::vector<Tensor> & inputs);
std::string npy_error(const std::string & path);

void write_file(const std::string & path, const std::string & bytes);
std::string read_file(const std::string & path);

// Little-endian raw bytes, as stored in .npy files and weight shards.
std::string float_bytes(const std::vector<float> & values);
std::string int32_bytes(const std::vector<int32_t> & values);

// A version 1.0 .npy file: magic, header dict padded to a 64-byte boundary, then `data`.
std::string npy_file(const std::string & descr, const std::string & shape, const std::string & data,
                     const std::string & fortran = "False");
std::string uint16_bytes(const std::vector<uint16_t> & values);

// Layer entries as tf-keras writes them (Keras 2 converter output).
Json input_layer(const std::string & name, const Json & batch_input_shape);
Json dense(const std::string & name, int units, bool use_bias = true);
// A Sequential model_config holding `layers`.
Json sequential(const std::string & name, const Json & layers);
// One weightsManifest entry.
Json weight(const std::string & name, const Json & shape, const std::string & dtype = "float32");
// A converter model.json: format, producer keys, modelTopology {keras_version, backend,
// model_config} and the manifest.
Json converter_document(const Json & model_config, const Json & manifest, const std::string & keras_version = "2.15.0");

// The reference model of the loader tests: Sequential [InputLayer [None, 2], Dense(2) "dense"]
// with kernel [[1, 2], [3, 4]] and bias [0.5, -1], weights in group1-shard1of1.bin of `dir`.
// On input [1, 1] it computes [4.5, 5].
Json dense_model_document(const TempDir & dir, const std::string & kernel_name = "dense/kernel",
                          const std::string & bias_name = "dense/bias");
const std::vector<float> & dense_model_kernel();
const std::vector<float> & dense_model_bias();

// Writes `document` as dir/model.json and returns the path.
std::string write_model(const TempDir & dir, const Json & document, const std::string & file = "model.json");

// The message of the krun::Error that loading `path` throws, or "" when it loads.
std::string load_error(const std::string & path);

// Runs a one-input model on a float32 tensor; returns the values of output 0.
std::vector<float> run_one(const Model & model, const std::vector<int64_t> & shape, const std::vector<float> & values);

// "3 element(s) outside tolerance, max abs error ..; worst at flat index 17: got .., expected .."
std::string describe(const Parity & parity);

}  // namespace krun::test
