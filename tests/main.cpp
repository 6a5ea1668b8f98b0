// The Catch2 main of krun_tests. The team of kernel threads is never benched here (TeamBench): a
// kernel test at N threads runs N threads even where a slow build (sanitizers) or a loaded machine
// makes a parallel region wait.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "kernels/fast/fast.h"

int main(int argc, char ** argv) {
    krun::fast::team_bench().enabled = false;
    return Catch::Session().run(argc, argv);
}
