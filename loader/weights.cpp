#include "loader/weights.h"
#include "memory.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>


namespace krun {

namespace fs = std::filesystem;

namespace {

// IEEE binary16 -> float32, exact (subnormals, infinities and NaN kept).
float half_to_float(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f;
    const uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float32
        const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
        std::memcpy(&bits, &magnitude, 4);
    } else if (exponent == 31) {
        bits = 0x7f800000u | (mantissa << 13);
    } else {  // rebias the exponent from 15 to 127, widen the mantissa
        bits = ((exponent + 112) << 23) | (mantissa << 13);
    }
    bits |= sign;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

// The shard file for `relative`, refusing absolute paths and paths (or symlinks) leading out of
// the model's folder.
fs::path shard_path(const std::string & relative, const std::string & folder, const std::string & where) {
    const fs::path rel(relative);
    KRUN_CHECK(!relative.empty() && !rel.is_absolute() && !rel.has_root_name(), where, ": shard path '", relative,
               "' must be relative to the model folder");
    for (const fs::path & part : rel)
        KRUN_CHECK(part != "..", where, ": shard path '", relative, "' leaves the model folder");
    std::error_code ec;
    const fs::path base = fs::canonical(folder, ec);
    KRUN_CHECK(!ec, where, ": model folder '", folder, "' cannot be resolved: ", ec.message());
    const fs::path full = fs::canonical(base / rel, ec);
    KRUN_CHECK(!ec, where, ": shard '", relative, "' not found in ", base.string());
    auto b = base.begin(), f = full.begin();
    for (; b != base.end(); ++b, ++f)
        KRUN_CHECK(f != full.end() && *b == *f, where, ": shard '", relative, "' resolves to ", full.string(),
                   ", outside the model folder");
    KRUN_CHECK(fs::is_regular_file(full, ec), where, ": shard '", relative, "' is not a regular file");
    return full;
}

int64_t stored_size(const std::string & dtype, const std::string & where) {
    if (dtype == "float32" || dtype == "int32") return 4;
    if (dtype == "uint16" || dtype == "float16") return 2;
    if (dtype == "uint8" || dtype == "bool") return 1;
    fail(where, ": unsupported dtype '", dtype, "' (supported: float32, int32, bool; quantized uint8, uint16, float16)");
}

}  // namespace

std::vector<ManifestWeight> read_weights(const Json & manifest, const std::string & folder, const std::string & model_path) {
    std::vector<ManifestWeight> out;
    if (manifest.is_null()) return out;
    const uint64_t memory = static_cast<uint64_t>(physical_memory_bytes());
    uint64_t all_shard_bytes = 0;
    KRUN_CHECK(manifest.is_array(), model_path, ": weightsManifest should be a list of groups");
    for (size_t g = 0; g < manifest.size(); ++g) {
        const std::string group_where = cat(model_path, ": weightsManifest[", g, "]");
        const Json & group = manifest[g];
        KRUN_CHECK(group.is_object() && group.contains("paths") && group["paths"].is_array() && group.contains("weights") &&
                       group["weights"].is_array(),
                   group_where, " should have 'paths' and 'weights' lists");

        // The group's shards, concatenated, hold its weights back to back (format-spec 2.2).
        std::vector<fs::path> shards;
        uint64_t shard_bytes = 0;
        for (const Json & p : group["paths"]) {
            KRUN_CHECK(p.is_string(), group_where, ": paths should hold strings");
            shards.push_back(shard_path(p.get<std::string>(), folder, group_where));
            const uint64_t size = fs::file_size(shards.back());
            KRUN_CHECK(size <= memory - all_shard_bytes, group_where, ": the shards hold at least ", all_shard_bytes + size,
                       " bytes of weights, more than the ", memory, " bytes of memory of this machine");
            all_shard_bytes += size;
            shard_bytes += size;
        }

        // Walk the entries first, so sizes are checked before anything is read or allocated.
        struct Entry { std::string name, where, stored; std::vector<int64_t> shape; int64_t count; uint64_t offset; const Json * spec; };
        std::vector<Entry> entries;
        uint64_t offset = 0;
        for (size_t i = 0; i < group["weights"].size(); ++i) {
            const Json & w = group["weights"][i];
            Entry e;
            e.where = cat(group_where, ".weights[", i, "]");
            KRUN_CHECK(w.is_object() && w.contains("name") && w["name"].is_string() && w.contains("shape") &&
                           w["shape"].is_array() && w.contains("dtype") && w["dtype"].is_string(),
                       e.where, " should have name, shape and dtype");
            e.name = w["name"].get<std::string>();
            e.where += " '" + e.name + "'";
            if (e.name.size() > 2 && e.name.compare(e.name.size() - 2, 2, ":0") == 0) e.name.resize(e.name.size() - 2);
            e.count = 1;
            for (const Json & d : w["shape"]) {
                KRUN_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, e.where, ": shape ", w["shape"].dump(),
                           " should hold non-negative integers");
                const int64_t dim = d.get<int64_t>();
                KRUN_CHECK(dim == 0 || e.count <= int64_t(shard_bytes) / dim, e.where, ": shape ", w["shape"].dump(),
                           " needs more bytes than the ", shard_bytes, " in the group's shards");
                e.count *= dim;
                e.shape.push_back(dim);
            }
            const std::string dtype = w["dtype"].get<std::string>();
            e.stored = dtype;
            if (w.contains("quantization") && !w["quantization"].is_null()) {
                const Json & q = w["quantization"];
                KRUN_CHECK(q.is_object() && q.contains("dtype") && q["dtype"].is_string(), e.where,
                           ": quantization should name its dtype");
                e.stored = q["dtype"].get<std::string>();
                KRUN_CHECK(e.stored == "uint8" || e.stored == "uint16" || e.stored == "float16", e.where,
                           ": unsupported quantization dtype '", e.stored, "' (supported: uint8, uint16, float16)");
                if (e.stored != "float16")
                    KRUN_CHECK(q.contains("scale") && q["scale"].is_number() && q.contains("min") && q["min"].is_number(),
                               e.where, ": ", e.stored, " quantization needs numeric scale and min");
            } else {
                KRUN_CHECK(dtype == "float32" || dtype == "int32" || dtype == "bool", e.where, ": unsupported dtype '",
                           dtype, "' (supported: float32, int32, bool, and uint8/uint16/float16 quantization)");
            }
            e.offset = offset;
            offset += static_cast<uint64_t>(e.count) * stored_size(e.stored, e.where);
            e.spec = &w;
            entries.push_back(std::move(e));
        }
        KRUN_CHECK(offset == shard_bytes, group_where, ": the manifest declares ", offset, " bytes of weights but the shards (",
                   group["paths"].dump(), ") hold ", shard_bytes);

        // The group's bytes are read entry by entry: float32 weights straight into their tensors
        // (no copy of the whole group), the others through a buffer of their own bytes.
        std::vector<std::ifstream> files;
        std::vector<uint64_t> shard_begin;  // offset of each shard in the group's bytes
        uint64_t begin = 0;
        for (const fs::path & shard : shards) {
            files.emplace_back(shard, std::ios::binary);
            KRUN_CHECK(files.back().is_open(), group_where, ": cannot open shard ", shard.string());
            shard_begin.push_back(begin);
            begin += fs::file_size(shard);
        }
        // Bytes [offset, offset + size) of the group into `to`.
        auto read_bytes = [&](uint64_t offset, uint64_t size, unsigned char * to) {
            size_t f = 0;
            while (f + 1 < files.size() && shard_begin[f + 1] <= offset) ++f;
            while (size > 0) {
                const uint64_t shard_end = f + 1 < files.size() ? shard_begin[f + 1] : shard_bytes;
                const uint64_t part = std::min(size, shard_end - offset);
                std::ifstream & in = files[f];
                in.seekg(static_cast<std::streamoff>(offset - shard_begin[f]));
                in.read(reinterpret_cast<char *>(to), static_cast<std::streamsize>(part));
                KRUN_CHECK(in && static_cast<uint64_t>(in.gcount()) == part, group_where, ": cannot read shard ",
                           shards[f].string());
                offset += part, size -= part, to += part, ++f;
            }
        };
        std::vector<unsigned char> converted;  // bytes of an entry that is not float32

        for (const Entry & e : entries) {
            const Json & w = *e.spec;
            const std::string group_kind = w.contains("group") && w["group"].is_string() ? w["group"].get<std::string>() : "";
            if (group_kind == "optimizer" || e.name.rfind("optimizer/", 0) == 0) continue;  // training state
            ManifestWeight mw;
            mw.name = e.name;
            mw.where = e.where;
            mw.stored_dtype = e.stored;
            mw.value = Tensor::uninitialized(e.shape);  // every element is written below
            float * dst = mw.value.data();
            const bool int_original = w["dtype"] == "int32";
            const uint64_t size = static_cast<uint64_t>(e.count) * stored_size(e.stored, e.where);
            if (e.stored == "float32") {
                read_bytes(e.offset, size, reinterpret_cast<unsigned char *>(dst));
                out.push_back(std::move(mw));
                continue;
            }
            converted.resize(size);
            read_bytes(e.offset, size, converted.data());
            const unsigned char * src = converted.data();
            if (e.stored == "int32") {
                for (int64_t i = 0; i < e.count; ++i) {
                    int32_t v;
                    std::memcpy(&v, src + 4 * i, 4);
                    dst[i] = static_cast<float>(v);
                }
            } else if (e.stored == "bool") {
                for (int64_t i = 0; i < e.count; ++i) dst[i] = src[i] ? 1.f : 0.f;
            } else if (e.stored == "float16") {
                mw.quantized = true;
                for (int64_t i = 0; i < e.count; ++i) dst[i] = half_to_float(static_cast<uint16_t>(src[2 * i] | src[2 * i + 1] << 8));
            } else {
                // Affine: x = q * scale + min in double, rounded once to float32 (as TF.js and numpy).
                mw.quantized = true;
                const double scale = w["quantization"]["scale"].get<double>();
                const double min = w["quantization"]["min"].get<double>();
                for (int64_t i = 0; i < e.count; ++i) {
                    const unsigned q = e.stored == "uint8" ? src[i] : static_cast<unsigned>(src[2 * i] | src[2 * i + 1] << 8);
                    const double x = q * scale + min;
                    dst[i] = static_cast<float>(int_original ? std::round(x) : x);
                }
            }
            out.push_back(std::move(mw));
        }
    }
    return out;
}

}  // namespace krun
