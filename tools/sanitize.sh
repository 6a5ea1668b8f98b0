#!/usr/bin/env bash
# Sanitizer builds (gcc): everything with AddressSanitizer + UndefinedBehaviorSanitizer in
# build-asan/ running the whole ctest suite (LeakSanitizer included; the install test is skipped:
# its consumer links without the sanitizer runtimes), then ThreadSanitizer in build-tsan/ running
# the multi-threaded tests ([concurrency]) once. Any report fails the script.
#   tools/sanitize.sh [asan|tsan]   default: both
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
tools/setup.sh --packages-only

if [ "$which" = all ] || [ "$which" = asan ]; then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKRUN_SANITIZE=address,undefined -DKRUN_BUILD_BENCH=OFF
    cmake --build build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan -LE install --output-on-failure -j "$(nproc)"
fi
if [ "$which" = all ] || [ "$which" = tsan ]; then
    cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKRUN_SANITIZE=thread -DKRUN_BUILD_BENCH=OFF
    cmake --build build-tsan --target krun_tests
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/tests/krun_tests "[concurrency]"
fi
