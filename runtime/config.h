// Typed, error-reporting access to one Keras layer's config (a JSON object as the converter wrote
// it). Every message names the layer and class, so config errors read the same everywhere.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"

namespace krun {

using Json = nlohmann::ordered_json;  // keeps key order (dict-structured model inputs)

class Config {
public:
    Config(const Json & json, std::string context) : json_(json), context_(std::move(context)) {}

    // True when `key` is present and not null.
    bool has(const std::string & key) const;
    const Json & json() const { return json_; }
    const std::string & context() const { return context_; }

    int64_t integer(const std::string & key, int64_t fallback) const;
    int64_t integer(const std::string & key) const;
    double number(const std::string & key, double fallback) const;
    bool boolean(const std::string & key, bool fallback) const;
    std::string string(const std::string & key, const std::string & fallback) const;
    std::string string(const std::string & key) const;
    // A list of integers, or a single integer repeated `count` times (kernel_size: 3 -> [3, 3]).
    // `count` 0 accepts any length.
    std::vector<int64_t> integers(const std::string & key, size_t count) const;
    std::vector<int64_t> integers(const std::string & key, size_t count, int64_t fallback) const;
    // A nested config (e.g. the `cell` of an RNN, the `layer` of a wrapper).
    Config child(const std::string & key) const;

    [[noreturn]] void error(const std::string & what) const { fail(context_, ": ", what); }

private:
    const Json & at(const std::string & key) const;
    const Json & json_;
    std::string context_;
};

}  // namespace krun
