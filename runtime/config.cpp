#include "config.h"

namespace krun {

bool Config::has(const std::string & key) const {
    return json_.is_object() && json_.contains(key) && !json_[key].is_null();
}

const Json & Config::at(const std::string & key) const {
    if (!has(key)) error(cat("config has no '", key, "'"));
    return json_[key];
}

int64_t Config::integer(const std::string & key) const {
    const Json & v = at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
        return static_cast<int64_t>(v.get<double>());
    error(cat("'", key, "' should be an integer, found ", v.dump()));
}

int64_t Config::integer(const std::string & key, int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
}

double Config::number(const std::string & key, double fallback) const {
    if (!has(key)) return fallback;
    const Json & v = json_[key];
    if (!v.is_number()) error(cat("'", key, "' should be a number, found ", v.dump()));
    return v.get<double>();
}

bool Config::boolean(const std::string & key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json & v = json_[key];
    if (!v.is_boolean()) error(cat("'", key, "' should be true or false, found ", v.dump()));
    return v.get<bool>();
}

std::string Config::string(const std::string & key) const {
    const Json & v = at(key);
    if (!v.is_string()) error(cat("'", key, "' should be a string, found ", v.dump()));
    return v.get<std::string>();
}

std::string Config::string(const std::string & key, const std::string & fallback) const {
    return has(key) ? string(key) : fallback;
}

std::vector<int64_t> Config::integers(const std::string & key, size_t count) const {
    const Json & v = at(key);
    std::vector<int64_t> out;
    auto as_int = [&](const Json & e) {
        if (!e.is_number_integer()) error(cat("'", key, "' should hold integers, found ", v.dump()));
        return e.get<int64_t>();
    };
    if (v.is_array()) {
        for (const Json & e : v) out.push_back(as_int(e));
    } else {
        out.assign(count ? count : 1, as_int(v));
    }
    if (count && out.size() != count) error(cat("'", key, "' should have ", count, " values, found ", v.dump()));
    return out;
}

std::vector<int64_t> Config::integers(const std::string & key, size_t count, int64_t fallback) const {
    return has(key) ? integers(key, count) : std::vector<int64_t>(count, fallback);
}

Config Config::child(const std::string & key) const {
    const Json & v = at(key);
    if (!v.is_object()) error(cat("'", key, "' should be an object, found ", v.dump()));
    return Config(v, context_);
}

}  // namespace krun
