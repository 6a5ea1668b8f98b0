// Error helpers: every check that can fail on user input throws krun::Error with a message built
// from its parts, e.g. KRUN_CHECK(n > 0, "layer '", name, "': units must be positive, got ", n).
#pragma once

#include <sstream>
#include <string>

#include "krun/krun.h"

namespace krun {

template <class... Parts>
std::string cat(const Parts &... parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
}

template <class... Parts>
[[noreturn]] void fail(const Parts &... parts) {
    throw Error(cat(parts...));
}

}  // namespace krun

#define KRUN_CHECK(cond, ...)                    \
    do {                                         \
        if (!(cond)) ::krun::fail(__VA_ARGS__);  \
    } while (0)
