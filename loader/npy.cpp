#include "loader/npy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "error.h"

namespace krun {

namespace {

// The value of `key` in the header dict, as written by numpy ('descr': '<f4', ...): a quoted
// string (quotes kept), True, False or a parenthesized tuple. Hand-written: std::regex recurses
// once per character and overflows the stack on long headers.
std::string header_field(const std::string & header, const std::string & key, const std::string & path) {
    const std::string quoted = "'" + key + "'";
    size_t at = header.find(quoted);
    auto missing = [&] { fail(path, ": .npy header has no '", key, "' field: ", header.substr(0, 200)); };
    if (at == std::string::npos) missing();
    at = header.find_first_not_of(" \t", at + quoted.size());
    if (at == std::string::npos || header[at] != ':') missing();
    at = header.find_first_not_of(" \t", at + 1);
    if (at == std::string::npos) missing();
    for (const char * word : {"True", "False"})
        if (header.compare(at, std::strlen(word), word) == 0) return word;
    const char open = header[at], close = open == '(' ? ')' : '\'';
    if (open != '(' && open != '\'') missing();
    const size_t end = header.find(close, at + 1);
    if (end == std::string::npos) missing();
    return header.substr(at, end - at + 1);
}

// "(2, 3)", "(4,)" or "()": non-negative integers separated by commas.
std::vector<int64_t> parse_shape(const std::string & text, const std::string & path) {
    std::vector<int64_t> shape;
    size_t i = 1;
    auto skip_spaces = [&] { while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i; };
    while (true) {
        skip_spaces();
        if (text[i] == ')') break;
        const size_t start = i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        KRUN_CHECK(i > start && i - start <= 12, path, ": bad shape ", text, " in the .npy header");
        shape.push_back(std::stoll(text.substr(start, i - start)));
        skip_spaces();
        if (text[i] == ',') ++i;
        else KRUN_CHECK(text[i] == ')', path, ": bad shape ", text, " in the .npy header");
    }
    return shape;
}

}  // namespace

Tensor read_npy(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    KRUN_CHECK(in, path, ": cannot open file");
    char magic[8] = {};
    in.read(magic, 8);
    KRUN_CHECK(in && std::memcmp(magic, "\x93NUMPY", 6) == 0, path, ": not a .npy file (bad magic)");
    const int major = static_cast<unsigned char>(magic[6]);
    KRUN_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy version ", major);
    uint32_t header_len = 0;
    unsigned char len_bytes[4] = {};
    in.read(reinterpret_cast<char *>(len_bytes), major == 1 ? 2 : 4);
    KRUN_CHECK(in, path, ": truncated .npy header");
    header_len = len_bytes[0] | (len_bytes[1] << 8) | (major == 1 ? 0u : (len_bytes[2] << 16 | uint32_t(len_bytes[3]) << 24));
    KRUN_CHECK(header_len <= 65536, path, ": .npy header too long (", header_len, " bytes)");
    std::string header(header_len, '\0');
    in.read(header.data(), header_len);
    KRUN_CHECK(in, path, ": truncated .npy header");

    const std::string descr = header_field(header, "descr", path);
    const std::string fortran = header_field(header, "fortran_order", path);
    const std::string shape_text = header_field(header, "shape", path);
    KRUN_CHECK(fortran == "False", path, ": Fortran-order arrays are not supported; save with np.ascontiguousarray");

    const std::vector<int64_t> shape = parse_shape(shape_text, path);

    struct Kind { const char * descr; int bytes; bool is_float; };
    static const Kind kinds[] = {{"'<f4'", 4, true}, {"'<f8'", 8, true}, {"'<i4'", 4, false}, {"'<i8'", 8, false}};
    const Kind * kind = nullptr;
    for (const Kind & k : kinds)
        if (descr == k.descr) kind = &k;
    KRUN_CHECK(kind, path, ": unsupported .npy dtype ", descr, " (supported: float32, float64, int32, int64, little-endian)");

    // Refuse shapes the file cannot hold before allocating anything.
    const std::streamoff data_start = in.tellg();
    in.seekg(0, std::ios::end);
    const std::streamoff available = in.tellg() - data_start;
    in.seekg(data_start);
    const bool empty = std::find(shape.begin(), shape.end(), 0) != shape.end();
    int64_t count = empty ? 0 : 1;
    for (int64_t d : shape) {
        KRUN_CHECK(empty || count <= available / d, path, ": truncated .npy data: shape ", shape_string(shape),
                   " needs more than the ", available, " bytes in the file");
        count *= d;
    }
    KRUN_CHECK(count * kind->bytes <= available, path, ": truncated .npy data: expected ", count * kind->bytes,
               " bytes for shape ", shape_string(shape), ", found ", available);
    Tensor t(shape, kind->is_float ? DType::Float32 : DType::Int32);
    std::vector<char> raw(static_cast<size_t>(t.size()) * kind->bytes);
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    KRUN_CHECK(in.gcount() == static_cast<std::streamsize>(raw.size()), path, ": truncated .npy data: expected ",
               raw.size(), " bytes for shape ", shape_string(shape), ", found ", in.gcount());
    for (int64_t i = 0; i < t.size(); ++i) {
        const char * p = raw.data() + i * kind->bytes;
        if (kind->is_float) {
            if (kind->bytes == 4) std::memcpy(&t.data()[i], p, 4);
            else { double d; std::memcpy(&d, p, 8); t.data()[i] = static_cast<float>(d); }
        } else if (kind->bytes == 4) {
            std::memcpy(&t.data_i32()[i], p, 4);
        } else {
            int64_t v; std::memcpy(&v, p, 8);
            KRUN_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(), path,
                       ": int64 value ", v, " at index ", i, " does not fit in int32");
            t.data_i32()[i] = static_cast<int32_t>(v);
        }
    }
    return t;
}

void write_npy(const std::string & path, const Tensor & tensor) {
    std::string shape = "(";
    for (int64_t d : tensor.shape()) shape += std::to_string(d) + ",";
    if (tensor.rank() > 1) shape.pop_back();
    shape += ")";
    std::string header = cat("{'descr': '", tensor.dtype() == DType::Int32 ? "<i4" : "<f4",
                             "', 'fortran_order': False, 'shape': ", shape, ", }");
    // Pad with spaces so the data starts on a 64-byte boundary, newline-terminated (format 1.0).
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    KRUN_CHECK(out, path, ": cannot open for writing");
    const uint16_t len = static_cast<uint16_t>(header.size());
    out.write("\x93NUMPY\x01\x00", 8);
    const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char *>(tensor.dtype() == DType::Int32 ? static_cast<const void *>(tensor.data_i32())
                                                                           : static_cast<const void *>(tensor.data())),
              tensor.size() * 4);
    KRUN_CHECK(out, path, ": write failed");
}

}  // namespace krun
