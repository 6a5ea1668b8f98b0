// The Catch2 main of krun_tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
