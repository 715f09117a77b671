#!/usr/bin/env bash
# Check a frozen build the way a user would use it: the window opens, the CLI trains offline with the
# shipped SqueezeNet 1.1 weights, the desktop app's training worker runs, and a run exports.
#
#   bash packaging/check_build.sh [DIST_FOLDER]     (default: dist/tlstudio)
#
# Everything it writes goes to a temporary folder (settings, caches, data, runs); KERAS_HOME is empty
# there, so no downloaded weights can be used. Where `unshare` may make a network namespace (root),
# the training runs with no network at all. Exit code 0 when every step passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="$(cd "${1:-$ROOT/dist/tlstudio}" && pwd)"
APP="$DIST/tlstudio"
if [[ ! -x "$APP" ]]; then
    echo "check_build.sh: no executable at $APP; build first with: bash packaging/build.sh" >&2
    exit 2
fi
WORK="$(mktemp -d -t tlstudio-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache" \
       KERAS_HOME="$WORK/keras" TLSTUDIO_CACHE_DIR="$WORK/tlstudio-cache"
mkdir -p "$HOME"
OFFLINE=()
if unshare --net --map-root-user true 2>/dev/null; then OFFLINE=(unshare --net --map-root-user); fi
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "== 1. version"
"$APP" --version

echo "== 2. the window opens (offscreen) and closes"
start=$(now)
QT_QPA_PLATFORM=offscreen TLSTUDIO_EXIT_AFTER_SHOWN=1 "$APP" > "$WORK/window.txt" 2>&1 || {
    cat "$WORK/window.txt"; echo "FAILED: the window did not open"; exit 1; }
grep "window shown after" "$WORK/window.txt"
grep "window icon: 16" "$WORK/window.txt" || {
    cat "$WORK/window.txt"; echo "FAILED: the window has no icon from resources/icons"; exit 1; }
echo "   (the process took $(took "$start") in all)"

echo "== 3. a demo dataset"
"$APP" demo-data "$WORK/demo" --per-class 10 --size 64

echo "== 4. tlstudio train: 1 epoch, squeezenet1_1 with its shipped ImageNet weights${OFFLINE:+, no network}"
start=$(now)
"${OFFLINE[@]}" "$APP" train --data "$WORK/demo" --backbone squeezenet1_1 --weights imagenet --epochs 1 \
    --batch-size 8 --out "$WORK/run" 2>&1 | grep -v "^I0000\|^WARNING: All log\|^To enable\|cpu_feature_guard"
test -f "$WORK/run/model.keras" || { echo "FAILED: the run left no model.keras"; exit 1; }
echo "   (train took $(took "$start") in all)"

echo "== 5. the desktop app's training worker ($APP worker, started by the app's TrainingSession)"
start=$(now)
"${OFFLINE[@]}" "$PYTHON" "$ROOT/packaging/check_worker.py" "$APP" "$WORK/demo" "$WORK/worker-run" \
    2>&1 | grep "^worker result\|^worker metrics\|^check_worker\|Error" || true
grep -q '"FINISHED"' "$WORK/worker-run/status.json" || { echo "FAILED: the worker's run did not finish"; exit 1; }
echo "   (worker run took $(took "$start") in all)"

echo "== 6. tlstudio export: every format, each checked against the Keras model"
"$APP" export "$WORK/run" --out "$WORK/export" --quiet > "$WORK/export.txt" 2>&1 || true
grep -v "^I0000\|^WARNING: All log" "$WORK/export.txt"
for made in model.keras savedmodel model.tflite model.onnx; do
    test -e "$WORK/export/$made" || { echo "FAILED: the export left no $made"; exit 1; }
done
if grep -q "FAILED" "$WORK/export.txt"; then echo "FAILED: a format did not pass its check"; exit 1; fi

echo
echo "check_build.sh: all steps passed for $DIST"
