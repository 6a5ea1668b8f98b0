// Command-line parsing shared by the krun subcommands: "--name value" and "--name=value".
#pragma once

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

namespace krun {

// Thrown for command-line mistakes; reported like krun::Error, exit 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline double parse_number(const std::string & option, const std::string & text) {
    try {
        size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == text.size() && std::isfinite(v)) return v;
    } catch (const std::exception &) {
    }
    throw UsageError(option + " expects a number, got '" + text + "'");
}

inline int parse_count(const std::string & option, const std::string & text, int min) {
    const double v = parse_number(option, text);
    if (v != std::floor(v) || v < min || v > 1e6)
        throw UsageError(option + " expects an integer >= " + std::to_string(min) + ", got '" + text + "'");
    return static_cast<int>(v);
}

// The value of the option being parsed: value() takes it ("--x=1" or the next argument),
// none() checks there is none.
class OptionValue {
public:
    OptionValue(const std::string & name, int argc, char ** argv, int & i, const std::string * inline_value)
        : name_(name), argc_(argc), argv_(argv), i_(i), inline_(inline_value) {}
    std::string value() {
        if (inline_) return *inline_;
        if (i_ + 1 >= argc_) throw UsageError(name_ + " needs a value");
        return argv_[++i_];
    }
    void none() const {
        if (inline_) throw UsageError(name_ + " takes no value");
    }

private:
    const std::string & name_;
    int argc_;
    char ** argv_;
    int & i_;
    const std::string * inline_;
};

// Calls `positional(arg)` for each argument from argv[first] that is not an option and
// `option(name, value)` for each option (the callback throws UsageError for unknown names).
inline void parse_command_line(int argc, char ** argv, int first, const std::function<void(const std::string &)> & positional,
                               const std::function<void(const std::string &, OptionValue &)> & option) {
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i], value;
        if (arg.size() <= 1 || arg[0] != '-') {
            positional(arg);
            continue;
        }
        const size_t eq = arg.find('=');
        const bool inline_value = arg.rfind("--", 0) == 0 && eq != std::string::npos;
        if (inline_value) {
            value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        OptionValue v(arg, argc, argv, i, inline_value ? &value : nullptr);
        option(arg, v);
    }
}

}  // namespace krun
