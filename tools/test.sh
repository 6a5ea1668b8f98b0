#!/usr/bin/env bash
# Every check krun has, as CI runs it (.ci/run); any failing test or sanitizer/fuzzer report fails it.
#   1. Release build (tools/setup.sh --build-only) and every ctest test, the install test included
#   2. tools/sanitize.sh asan: one clang build with AddressSanitizer, UndefinedBehaviorSanitizer and
#      LeakSanitizer running the ctest suite (the same build holds the fuzz targets)
#   3. tools/fuzz.sh: the three libFuzzer targets of that build, FUZZ_SECONDS (default 60) each
#   4. tools/sanitize.sh tsan: ThreadSanitizer on the multi-threaded tests
# About 20 minutes on 2 cores. For a quick check while developing:
#   tools/test.sh --quick   step 1 only (locally, `ctest --test-dir build -LE install` skips the
#                           install test too)
# Build folders: KRUN_BUILD_DIR (build), KRUN_ASAN_BUILD_DIR (build-asan), KRUN_TSAN_BUILD_DIR
# (build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo; echo "=== test.sh: $* ($(date -u +%H:%M:%S), ${SECONDS}s in)"; }

if [ "${1:-}" = "--quick" ]; then
    tools/setup.sh --build-only
else
    # Every package of every step at once: at most one apt-get update.
    KRUN_EXTRA_PACKAGES="${KRUN_EXTRA_PACKAGES:-} $(tools/sanitize.sh --packages)" tools/setup.sh --build-only
fi
step "Release build: ctest"
ctest --test-dir "${KRUN_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
if [ "${1:-}" = "--quick" ]; then exit 0; fi

step "AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer"
tools/sanitize.sh asan
step "libFuzzer, ${FUZZ_SECONDS:-60}s per target"
tools/fuzz.sh
step "ThreadSanitizer"
tools/sanitize.sh tsan
step "all passed"
