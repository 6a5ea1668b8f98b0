#!/usr/bin/env bash
# Prints the README's parity table: for every fixture under models/ with expected outputs, the
# worst absolute error of krun against Keras over all outputs, with the fast and the reference
# kernels.   Usage: tools/parity_table.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
krun="${1:-build}/krun"

# Worst "max abs err" that `krun --expect` reports over all outputs of one run.
worst_error() {
    "$krun" "$@" 2>&1 | sed -n 's/.*max abs err \([^,]*\),.*/\1/p' | sort -g | tail -n 1
}

echo "| fixture | producer | outputs | max abs error (fast) | max abs error (reference) |"
echo "|---|---|---|---|---|"
for folder in models/*/; do
    folder="${folder%/}"
    [ -f "$folder/expected_0.npy" ] || continue
    grep -q expect_divergence "$folder/fixture.json" && continue  # broken on purpose (field cases)
    args=("$folder/model.json")
    for f in $(ls "$folder"/input_*.npy | sort -V); do args+=("$f"); done
    outputs=0
    for f in $(ls "$folder"/expected_*.npy | sort -V); do args+=(--expect "$f"); outputs=$((outputs + 1)); done
    producer=$(sed -n 's/.*"producer": *"\([^"]*\)".*/\1/p' "$folder/fixture.json" | head -n 1)
    echo "| $(basename "$folder") | $producer | $outputs | $(worst_error "${args[@]}" -o /dev/null) | $(worst_error "${args[@]}" --ref -o /dev/null) |"
done
