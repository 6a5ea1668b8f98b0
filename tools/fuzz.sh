#!/usr/bin/env bash
# libFuzzer: builds the targets of tests/fuzz in build-fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for FUZZ_SECONDS (default 60), seeded with
# the files of models/ (read in place through symlinks) and the committed regression inputs.
#   tools/fuzz.sh [TARGET...]   default: fuzz_model_json fuzz_weights fuzz_npy
# New inputs collect in build-fuzz/corpus/TARGET. A crash, leak or hang stops the target, leaves
# its input as build-fuzz/crash-TARGET-* (or leak-/timeout-) and fails the script: commit the
# input under tests/fuzz/regressions/TARGET/ (tests/test_malformed.cpp replays it) with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-fuzz
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(fuzz_model_json fuzz_weights fuzz_npy); fi

KRUN_EXTRA_PACKAGES="clang libclang-rt-14-dev libomp-14-dev" tools/setup.sh --packages-only
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DKRUN_FUZZ=ON -DKRUN_SANITIZE=address,undefined -DKRUN_BUILD_TESTS=OFF -DKRUN_BUILD_BENCH=OFF
cmake --build "$build" --target "${targets[@]}"

# Seeds: symlinks to the fixtures' files; fuzz_weights reads "model.json NUL shard" inputs.
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/fuzz_model_json" "$seeds/fuzz_npy" "$seeds/fuzz_weights"
for folder in models/*/ tests/malformed/*/; do
    name=$(basename "$folder")
    ln -s "$PWD/$folder/model.json" "$seeds/fuzz_model_json/$name.json"
    for npy in "$folder"*.npy; do
        [ -e "$npy" ] && ln -s "$PWD/$npy" "$seeds/fuzz_npy/$name-$(basename "$npy")"
    done
done
for name in tfk_quant_uint8 tfk_quant_uint16 tfk_quant_float16 tfk_dense_mlp; do
    { cat "models/$name/model.json"; printf '\0'; cat "models/$name"/*.bin; } > "$seeds/fuzz_weights/$name"
done
ln -s "$PWD/models/tfk_quant_uint8/group1-shard1of1.bin" "$seeds/fuzz_weights/tfk_quant_uint8.bin"

status=0
for target in "${targets[@]}"; do
    mkdir -p "$build/corpus/$target" "tests/fuzz/regressions/$target"
    echo "fuzz: $target for ${seconds}s"
    # -max_len: the small fixtures' model.json files fit (the MobileNets' are cut short).
    "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$build/crash-$target-" \
        "$build/corpus/$target" "$seeds/$target" "tests/fuzz/regressions/$target" 2>&1 | tail -n 60 \
        || status=1
done
exit "$status"
