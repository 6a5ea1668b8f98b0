// Runs the krun command-line tool (KRUN_CLI) from tests and captures what it printed.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "support/helpers.h"

namespace krun::test {

struct CliResult {
    int exit_code;
    std::string out, err;
};

// Runs `krun <args>` (arguments are joined with spaces: keep them free of shell syntax); the
// output goes through files in `dir`.
inline CliResult krun_cli(const TempDir & dir, const std::string & args) {
    const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
    const int status = std::system((std::string(KRUN_CLI) + " " + args + " >" + out + " 2>" + err).c_str());
    REQUIRE(WIFEXITED(status));
    return {WEXITSTATUS(status), read_file(out), read_file(err)};
}

}  // namespace krun::test
