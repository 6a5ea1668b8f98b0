#!/usr/bin/env bash
# Sanitizer builds (clang, -O1, line tables only; tools/test.sh runs both). Any report fails.
#   tools/sanitize.sh asan [--build-only]
#       KRUN_ASAN_BUILD_DIR (default build-asan): AddressSanitizer + UndefinedBehaviorSanitizer,
#       LeakSanitizer on, krun_core also instrumented for libFuzzer so that tools/fuzz.sh links its
#       targets in the same folder. Runs the ctest suite except:
#         install  its consumer project links without the sanitizer runtimes;
#         cli.*    the CLI on every fixture: the same fixtures go through the same Model::load and
#                  Model::run in unit.models (fast and reference kernels), and the CLI's own code
#                  is run by the unit.cli tests.
#   tools/sanitize.sh tsan
#       KRUN_TSAN_BUILD_DIR (default build-tsan): ThreadSanitizer (with LLVM's OpenMP runtime, whose
#       Archer tool tells TSan about OpenMP's synchronization) on the tests that run threads:
#       [concurrency] (one model from 8 threads) and [kernels] (the OpenMP-threaded kernels); only
#       only krun_thread_tests (those two test files) is built.
#   tools/sanitize.sh --packages   prints the Debian packages these builds need
set -euo pipefail
cd "$(dirname "$0")/.."
packages="clang libclang-rt-14-dev libomp-14-dev"
if [ "${1:-}" = "--packages" ]; then echo "$packages"; exit 0; fi
which="${1:?usage: tools/sanitize.sh asan [--build-only] | tsan | --packages}"
KRUN_EXTRA_PACKAGES="$packages" tools/setup.sh --packages-only

configure() {  # configure DIR SANITIZERS [CMAKE ARGS...]
    local dir=$1 sanitizers=$2
    shift 2
    cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 \
        -DKRUN_SANITIZE="$sanitizers" -DKRUN_BUILD_BENCH=OFF "$@" > /dev/null
}

case "$which" in
asan)
    dir="${KRUN_ASAN_BUILD_DIR:-build-asan}"
    configure "$dir" address,undefined -DKRUN_FUZZ=ON
    cmake --build "$dir" -j "$(nproc)"
    if [ "${2:-}" = "--build-only" ]; then exit 0; fi
    # LeakSanitizer must be able to run here (it needs ptrace-like access): a planted leak fails.
    leak="$dir/planted-leak"
    echo 'int * volatile p; int main() { p = new int[4]; p = nullptr; }' | clang++ -fsanitize=address -x c++ - -o "$leak"
    if ASAN_OPTIONS=detect_leaks=1 "$leak" 2> "$leak.log" || ! grep -q "ERROR: LeakSanitizer: detected memory leaks" "$leak.log"; then
        echo "sanitize.sh: LeakSanitizer did not report a planted leak:"; cat "$leak.log"; exit 1
    fi
    ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "$dir" -LE install -E '^cli\.' --output-on-failure -j "$(nproc)"
    ;;
tsan)
    dir="${KRUN_TSAN_BUILD_DIR:-build-tsan}"
    configure "$dir" thread
    cmake --build "$dir" -j "$(nproc)" --target krun_thread_tests
    # Archer (loaded by LLVM's OpenMP runtime when TSan is present) reports OpenMP's barriers and
    # locks to TSan; the runtime's own uninstrumented accesses are ignored (ignore_noninstrumented_modules).
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1 \
        "$dir/tests/krun_thread_tests" "[concurrency],[kernels]"
    ;;
*)
    echo "usage: tools/sanitize.sh asan [--build-only] | tsan | --packages" >&2; exit 2
    ;;
esac
