#!/usr/bin/env bash
# libFuzzer: runs the targets of tests/fuzz for FUZZ_SECONDS each (default 60), built by
# `tools/sanitize.sh asan --build-only` in KRUN_ASAN_BUILD_DIR (default build-asan: clang with
# AddressSanitizer, UndefinedBehaviorSanitizer, LeakSanitizer, krun_core instrumented for
# libFuzzer), seeded with the files of models/ (read in place through symlinks) and the committed
# regression inputs.
#   tools/fuzz.sh [TARGET...]   default: fuzz_model_json fuzz_weights fuzz_npy
# New inputs collect in BUILD/corpus/TARGET. A crash, leak or hang stops the target, leaves its
# input as BUILD/crash-TARGET-* (or leak-/timeout-) and fails the script: commit the input under
# tests/fuzz/regressions/TARGET/ (tests/test_malformed.cpp replays it) with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${KRUN_ASAN_BUILD_DIR:-build-asan}"
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(fuzz_model_json fuzz_weights fuzz_npy); fi

tools/sanitize.sh asan --build-only

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
