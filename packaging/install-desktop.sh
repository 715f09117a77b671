#!/usr/bin/env bash
# Put TL Studio in your desktop's application menu: the launcher (resources/tlstudio.desktop) in
# ~/.local/share/applications and the icon in ~/.local/share/icons/hicolor. No root needed.
#
#   bash packaging/install-desktop.sh [EXECUTABLE]    install (default: dist/tlstudio/tlstudio, else the
#                                                     `tlstudio` on PATH from a pip install)
#   bash packaging/install-desktop.sh --uninstall     remove the launcher and the icons again
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor"
SIZES=(16 24 32 48 64 128 256 512)

refresh() {
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" || true
    touch "$ICONS"  # icon themes notice the change by the folder's time (no cache is written here)
}

if [[ "${1:-}" == "--uninstall" ]]; then
    rm -f "$APPS/tlstudio.desktop" "$ICONS/scalable/apps/tlstudio.svg"
    for size in "${SIZES[@]}"; do rm -f "$ICONS/${size}x${size}/apps/tlstudio.png"; done
    refresh
    echo "removed TL Studio's launcher and icons from $DATA"
    exit 0
fi

if [[ -n "${1:-}" ]]; then
    EXECUTABLE="$1"
elif [[ -x "$ROOT/dist/tlstudio/tlstudio" ]]; then
    EXECUTABLE="$ROOT/dist/tlstudio/tlstudio"
else
    EXECUTABLE="$(command -v tlstudio || true)"
fi
if [[ -z "$EXECUTABLE" || ! -x "$EXECUTABLE" ]]; then
    echo "install-desktop.sh: no TL Studio executable found; build one (bash packaging/build.sh) or name it:" \
         "bash packaging/install-desktop.sh /path/to/tlstudio" >&2
    exit 2
fi
EXECUTABLE="$(cd "$(dirname "$EXECUTABLE")" && pwd)/$(basename "$EXECUTABLE")"

mkdir -p "$APPS" "$ICONS/scalable/apps"
for size in "${SIZES[@]}"; do
    mkdir -p "$ICONS/${size}x${size}/apps"
    cp "$ROOT/resources/icons/tlstudio-$size.png" "$ICONS/${size}x${size}/apps/tlstudio.png"
done
cp "$ROOT/resources/icons/tlstudio.svg" "$ICONS/scalable/apps/tlstudio.svg"
# The launcher runs this executable by its full path: the menu does not see a venv's PATH.
quoted="${EXECUTABLE//\"/\\\"}"
sed -e "s|^Exec=tlstudio |Exec=\"$quoted\" |" -e "s|^TryExec=tlstudio$|TryExec=$EXECUTABLE|" \
    "$ROOT/resources/tlstudio.desktop" > "$APPS/tlstudio.desktop"
refresh
echo "installed $APPS/tlstudio.desktop (runs $EXECUTABLE) and the icon in $ICONS"
echo "TL Studio is now in your application menu (Science); remove it with: bash $0 --uninstall"
