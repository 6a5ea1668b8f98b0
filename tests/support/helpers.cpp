#include "support/helpers.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include "loader/npy.h"

namespace krun::test {

TempDir::TempDir() {
    std::string pattern = (fs::temp_directory_path() / "krun-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

void write_file(const std::string & path, const std::string & bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// x86 and ARM are little-endian, like the files: the bytes are copied as they are.
template <class T>
static std::string raw_bytes(const std::vector<T> & values) {
    return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}
std::string float_bytes(const std::vector<float> & values) { return raw_bytes(values); }
std::string int32_bytes(const std::vector<int32_t> & values) { return raw_bytes(values); }
std::string uint16_bytes(const std::vector<uint16_t> & values) { return raw_bytes(values); }

Json input_layer(const std::string & name, const Json & batch_input_shape) {
    return {{"class_name", "InputLayer"},
            {"config", {{"batch_input_shape", batch_input_shape}, {"dtype", "float32"}, {"sparse", false}, {"name", name}}}};
}

Json dense(const std::string & name, int units, bool use_bias) {
    return {{"class_name", "Dense"},
            {"config",
             {{"name", name}, {"trainable", true}, {"dtype", "float32"}, {"units", units}, {"activation", "linear"},
              {"use_bias", use_bias}}}};
}

Json sequential(const std::string & name, const Json & layers) {
    return {{"class_name", "Sequential"}, {"config", {{"name", name}, {"layers", layers}}}};
}

Json weight(const std::string & name, const Json & shape, const std::string & dtype) {
    return {{"name", name}, {"shape", shape}, {"dtype", dtype}};
}

Json converter_document(const Json & model_config, const Json & manifest, const std::string & keras_version) {
    return {{"format", "layers-model"},
            {"generatedBy", "keras v" + keras_version},
            {"convertedBy", "TensorFlow.js Converter v4.22.0"},
            {"modelTopology", {{"keras_version", keras_version}, {"backend", "tensorflow"}, {"model_config", model_config}}},
            {"weightsManifest", manifest}};
}

const std::vector<float> & dense_model_kernel() {
    static const std::vector<float> kernel = {1, 2, 3, 4};
    return kernel;
}
const std::vector<float> & dense_model_bias() {
    static const std::vector<float> bias = {0.5f, -1};
    return bias;
}

Json dense_model_document(const TempDir & dir, const std::string & kernel_name, const std::string & bias_name) {
    std::vector<float> values = dense_model_kernel();
    values.insert(values.end(), dense_model_bias().begin(), dense_model_bias().end());
    write_file(dir / "group1-shard1of1.bin", float_bytes(values));
    const Json model = sequential("sequential", {input_layer("dense_input", {nullptr, 2}), dense("dense", 2)});
    const Json manifest = {{{"paths", {"group1-shard1of1.bin"}}, {"weights", {weight(kernel_name, {2, 2}), weight(bias_name, {2})}}}};
    return converter_document(model, manifest);
}

std::string write_model(const TempDir & dir, const Json & document, const std::string & file) {
    const std::string path = dir / file;
    write_file(path, document.dump(1));
    return path;
}

std::string load_error(const std::string & path) {
    try {
        Model::load(path);
    } catch (const Error & e) {
        return e.what();
    }
    return "";
}

std::vector<float> run_one(const Model & model, const std::vector<int64_t> & shape, const std::vector<float> & values) {
    const std::vector<Tensor> outputs = model.run({Tensor(shape, values)});
    const Tensor & out = outputs.at(0);
    return std::vector<float>(out.data(), out.data() + out.size());
}

std::string describe(const Parity & parity) {
    if (!parity.shape_ok) return "shape mismatch";
    std::ostringstream out;
    out.precision(9);
    out << parity.failures << " element(s) outside tolerance, max abs error " << parity.max_abs << "; worst at flat index "
        << parity.worst << ": got " << parity.worst_got << ", expected " << parity.worst_expected;
    return out.str();
}

std::string npy_file(const std::string & descr, const std::string & shape, const std::string & data,
                     const std::string & fortran) {
    std::string header = "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    const char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
    return std::string("\x93NUMPY\x01\x00", 8) + std::string(len, 2) + header + data;
}

static std::vector<std::string> numbered_files(const fs::path & folder, const std::string & prefix) {
    std::vector<std::string> files;
    for (int i = 0; fs::exists(folder / (prefix + std::to_string(i) + ".npy")); ++i)
        files.push_back((folder / (prefix + std::to_string(i) + ".npy")).string());
    return files;
}

std::vector<Fixture> fixtures() {
    std::vector<Fixture> found;
    if (!fs::is_directory(KRUN_MODELS_DIR)) return found;
    for (const fs::directory_entry & entry : fs::directory_iterator(KRUN_MODELS_DIR)) {
        const fs::path folder = entry.path();
        if (!entry.is_directory() || !fs::exists(folder / "model.json")) continue;
        std::ifstream meta(folder / "fixture.json");
        const nlohmann::json about = meta ? nlohmann::json::parse(meta, nullptr, false) : nlohmann::json();
        found.push_back({folder.filename().string(), (folder / "model.json").string(), numbered_files(folder, "input_"),
                         numbered_files(folder, "expected_"), about.is_object() && about.contains("expect_error"),
                         about.is_object() && about.contains("expect_divergence")});
    }
    std::sort(found.begin(), found.end(), [](const Fixture & a, const Fixture & b) { return a.name < b.name; });
    return found;
}

Fixture fixture(const std::string & name) {
    for (const Fixture & f : fixtures())
        if (f.name == name) return f;
    throw std::runtime_error("no fixture " + name + " in " KRUN_MODELS_DIR);
}

std::vector<Tensor> read_all(const std::vector<std::string> & paths) {
    std::vector<Tensor> tensors;
    for (const std::string & path : paths) tensors.push_back(read_npy(path));
    return tensors;
}

std::string run_error(const Model & model, const std::vector<Tensor> & inputs) {
    try {
        model.run(inputs);
    } catch (const Error & e) {
        return e.what();
    }
    return "";
}

std::string npy_error(const std::string & path) {
    try {
        read_npy(path);
    } catch (const Error & e) {
        return e.what();
    }
    return "";
}

}  // namespace krun::test
