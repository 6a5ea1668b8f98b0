#!/bin/sh
# One command for bench/side_by_side.py: creates (once) the Python venv and the
# Node modules it needs in the cache folder, then runs it.
#
#   bench/side_by_side.sh [KRUN] [side_by_side.py options]
#
# KRUN is the krun binary to time (default build/krun; this script builds
# nothing). The cache folder is build/sbs (SBS_CACHE overrides it): venv/,
# tfjs/node_modules/ and models/ (built and converted once; delete models/ to
# rebuild them). Examples:
#   bench/side_by_side.sh build/krun
#   bench/side_by_side.sh build/krun --only krun      # re-time krun only
# Needs python3.11 (PYTHON overrides it), node and npm.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SBS_CACHE:-$REPO/build/sbs}
PYTHON=${PYTHON:-python3.11}
KRUN=$REPO/build/krun
case "${1:-}" in
    ""|-*) ;;
    *) KRUN=$1; shift ;;
esac
mkdir -p "$CACHE"

# Python: the fixture environment plus the other runtimes (bench/requirements.txt);
# tensorflowjs without its dependencies (see tools/requirements.txt).
VENV=$CACHE/venv
STAMP=$VENV/requirements.stamp
if ! [ -x "$VENV/bin/python" ] || ! cat "$REPO/tools/requirements.txt" "$REPO/bench/requirements.txt" | cmp -s - "$STAMP"; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$REPO/bench/requirements.txt"
    "$VENV/bin/pip" install -q --no-deps tensorflowjs==4.22.0
    cat "$REPO/tools/requirements.txt" "$REPO/bench/requirements.txt" > "$STAMP"
fi

# Node: TF.js with the wasm backend, from bench/tfjs/package-lock.json.
NODE_DIR=$CACHE/tfjs
if ! cmp -s "$REPO/bench/tfjs/package-lock.json" "$NODE_DIR/package-lock.json" || ! [ -d "$NODE_DIR/node_modules" ]; then
    mkdir -p "$NODE_DIR"
    cp "$REPO/bench/tfjs/package.json" "$REPO/bench/tfjs/package-lock.json" "$NODE_DIR/"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

exec "$VENV/bin/python" "$REPO/bench/side_by_side.py" --krun "$KRUN" --cache "$CACHE" "$@"
