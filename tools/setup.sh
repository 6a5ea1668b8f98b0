#!/usr/bin/env bash
# Fresh Debian 12 -> krun built in build/ (Release) and run once on the bundled digits model.
#   tools/setup.sh               install missing packages, build, run the digits demo
#   tools/setup.sh --build-only  install missing packages, build (used by tools/test.sh)
#   tools/setup.sh --packages-only  install missing packages only (tools/fuzz.sh, tools/sanitize.sh)
# KRUN_BUILD_DIR overrides the build directory (default: build); KRUN_EXTRA_PACKAGES names more
# Debian packages to install (tools/fuzz.sh: clang and its runtimes).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${KRUN_BUILD_DIR:-build}"

# Debian packages: install only what is missing (no apt-get at all when nothing is).
packages=(cmake ninja-build g++ libxsimd-dev nlohmann-json3-dev catch2 libbenchmark-dev python3)
read -r -a extra_packages <<< "${KRUN_EXTRA_PACKAGES:-}"
packages+=("${extra_packages[@]}")
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--packages-only" ]; then exit 0; fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir"

if [ "${1:-}" = "--build-only" ]; then exit 0; fi

# The demo: the digits CNN on its bundled test digits, checked against Keras' outputs.
digits=models/tfk_digits_cnn
echo
echo "\$ $build_dir/krun $digits/model.json $digits/input_0.npy --expect $digits/expected_0.npy --labels $digits/labels.npy"
"$build_dir/krun" "$digits/model.json" "$digits/input_0.npy" --expect "$digits/expected_0.npy" --labels "$digits/labels.npy"
