// The krun command line on the hand-written Dense model: exit codes (0 ok, 1 parity mismatch,
// 2 usage/model/input error), the one-line error message, -o, --expect, --labels, --bench.
#include <catch2/catch.hpp>

#include <algorithm>

#include "loader/npy.h"
#include "support/cli.h"
#include "support/helpers.h"

using namespace krun;
using namespace krun::test;
using Catch::Contains;

TEST_CASE("cli: exit codes and messages", "[cli]") {
    TempDir dir;
    const std::string model = write_model(dir, dense_model_document(dir));
    write_npy(dir / "in.npy", Tensor({2, 2}, {1, 1, 0, 1}));
    write_npy(dir / "expected.npy", Tensor({2, 2}, {4.5f, 5, 3.5f, 3}));
    write_npy(dir / "off.npy", Tensor({2, 2}, {4.5f, 5, 3.5f, 3.01f}));
    write_npy(dir / "wrong_shape.npy", Tensor({4}, {4.5f, 5, 3.5f, 3}));
    const std::string in = dir / "in.npy";

    SECTION("--help") {
        const CliResult r = krun_cli(dir, "--help");
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Contains("usage: krun MODEL.json"));
    }
    SECTION("no inputs: inputs and outputs are listed") {
        const CliResult r = krun_cli(dir, model);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Contains("input  'dense_input' [None, 2]") && Contains("output 'dense' [None, 2]"));
    }
    SECTION("run: statistics and top classes with labels") {
        write_npy(dir / "labels.npy", Tensor({2}, {1, 0}));
        const CliResult r = krun_cli(dir, model + " " + in + " --labels " + (dir / "labels.npy"));
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Contains("output 'dense' [2, 2]: min 3 max 5 mean 4") && Contains("row 0 top-2: 1 (5) 0 (4.5)   label 1") &&
                              Contains("row 1 top-2: 0 (3.5) 1 (3)   label 0"));
    }
    SECTION("--expect within tolerance") {
        const CliResult r = krun_cli(dir, model + " " + in + " --expect " + (dir / "expected.npy"));
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Contains("max abs err 0, max rel err 0: ok"));
    }
    SECTION("--expect mismatch: exit 1 naming the worst element") {
        const CliResult r = krun_cli(dir, model + " " + in + " --expect " + (dir / "off.npy"));
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.out, Contains("MISMATCH: 1 of 4 elements") && Contains("worst at [1, 1]: got 3, expected 3.00999999"));
        CHECK(krun_cli(dir, model + " " + in + " --expect " + (dir / "off.npy") + " --atol 0.02").exit_code == 0);
    }
    SECTION("--expect with another shape is a parity failure") {
        const CliResult r = krun_cli(dir, model + " " + in + " --expect " + (dir / "wrong_shape.npy"));
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.out, Contains("MISMATCH: shape [2, 2], expected [4]"));
    }
    SECTION("-o writes float32 .npy; --ref, --threads and --bench run") {
        const CliResult r = krun_cli(dir, model + " " + in + " -o " + (dir / "out.npy") + " --ref --threads 1 --bench 3");
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Contains("bench: 3 runs, median"));
        const Tensor out = read_npy(dir / "out.npy");
        CHECK(out.shape() == std::vector<int64_t>{2, 2});
        CHECK(std::vector<float>(out.data(), out.data() + 4) == std::vector<float>{4.5f, 5, 3.5f, 3});
    }
    SECTION("--summary") {
        const CliResult r = krun_cli(dir, model + " --summary");
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Contains("dense (Dense)") && Contains("kernel <- dense/kernel [2, 2]"));
    }
    SECTION("usage, model and input errors: exit 2 with one line") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"", "no model given"},
            {model + " --frobnicate", "unknown option '--frobnicate'"},
            {model + " " + in + " --atol x", "--atol expects a number"},
            {model + " " + in + " --bench", "--bench needs a value"},
            {dir / "absent.json", "absent.json: cannot open file"},
            {model + " " + (dir / "absent.npy"), "absent.npy: cannot open file"},
            {model + " " + in + " " + in, "the model has 1 input(s), but 2 input file(s) were given"},
            {model + " " + (dir / "wrong_shape.npy"), "expected shape [None, 2], got [4]"},
            {model + " -o " + (dir / "x.npy"), "need input files"},
        };
        for (const auto & [args, phrase] : cases) {
            INFO("krun " << args);
            const CliResult r = krun_cli(dir, args);
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.err, Catch::StartsWith("krun: error: ") && Contains(phrase));
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        }
    }
}
