#!/usr/bin/env bash
# Installs missing packages and builds (tools/setup.sh --build-only), then runs every test,
# the install test included (locally, `ctest --test-dir build -LE install` skips that one).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --build-only
ctest --test-dir "${KRUN_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
