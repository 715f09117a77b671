#!/usr/bin/env bash
# Build TL Studio as a one-folder app that needs no Python: OUTPUT/dist/tlstudio/ (the executable is
# OUTPUT/dist/tlstudio/tlstudio). PyInstaller's work files go to OUTPUT/build/.
#
#   bash packaging/build.sh [OUTPUT]        (OUTPUT defaults to the repository root)
#
# Uses the Python TL Studio is installed in: $PYTHON, else .venv/bin/python, else python3. Installs
# PyInstaller into it when missing. Takes 3 to 4 minutes on a 2-core machine; see packaging/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTPUT="$(mkdir -p "${1:-$ROOT}" && cd "${1:-$ROOT}" && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import tlstudio, PySide6, tensorflow" 2>/dev/null; then
    echo "build.sh: TL Studio is not installed in $PYTHON; run the README's two set-up commands first," \
         "or set PYTHON to the Python it is installed in." >&2
    exit 2
fi
if ! "$PYTHON" -m PyInstaller --version >/dev/null 2>&1; then
    echo "build.sh: installing PyInstaller into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.10,<7"
fi

DIST="$OUTPUT/dist/tlstudio"
cd "$ROOT"
started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$OUTPUT/dist" --workpath "$OUTPUT/build" "$ROOT/packaging/tlstudio.spec"

# TensorFlow's wheels ship their libraries with full symbol tables (~250 MB that nothing reads at run
# time). Strip those, keeping the dynamic symbols the loader needs; every other library is stripped already.
if command -v strip >/dev/null && command -v file >/dev/null; then
    before=$(du -sm "$DIST" | cut -f1)
    find "$DIST" -path "*/tensorflow/*" -name "*.so*" -type f -print0 \
        | xargs -0 file | grep "not stripped" | cut -d: -f1 \
        | while read -r library; do strip --strip-unneeded "$library"; done
    echo "stripped TensorFlow's libraries: $before MB -> $(du -sm "$DIST" | cut -f1) MB"
else
    echo "build.sh: 'strip' or 'file' is missing (apt-get install binutils file); the build is ~250 MB larger."
fi

seconds=$(( $(date +%s) - started ))
echo
echo "built $DIST in $((seconds / 60)) min $((seconds % 60)) s"
echo "size: $(du -sh "$DIST" | cut -f1) ($(find "$DIST" -type f | wc -l) files); the largest parts:"
du -sm "$DIST"/_internal/* | sort -rn | head -8 | awk '{printf "  %6d MB  %s\n", $1, $2}'
echo "check it: bash packaging/check_build.sh $DIST"
