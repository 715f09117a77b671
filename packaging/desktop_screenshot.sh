#!/usr/bin/env bash
# Screenshot of TL Studio on a small X desktop: the window's title bar and task bar entry with the app's
# icon, and the application menu open at the launcher that install-desktop.sh put there.
#
#   bash packaging/desktop_screenshot.sh APP OUT.png     (APP: dist/tlstudio/tlstudio or a `tlstudio`)
#
# Needs Xvfb, the IceWM window manager, xdotool and ImageMagick (Debian:
# apt-get install xvfb icewm xdotool imagemagick). Settings and the launcher go to a temporary home.
set -euo pipefail
if [[ -z "${DISPLAY:-}" ]]; then
    exec xvfb-run -a -s "-screen 0 1280x800x24" bash "$0" "$@"
fi
APP="$1"; OUT="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME="$(mktemp -d -t tlstudio-shot.XXXXXX)"
export HOME XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/share" KERAS_HOME="$HOME/keras"
trap 'kill $APP_PID $WM_PID 2>/dev/null; rm -rf "$HOME"' EXIT
bash "$ROOT/packaging/install-desktop.sh" "$APP" >/dev/null
ICONS="$XDG_DATA_HOME/icons/hicolor"
mkdir -p "$HOME/.icewm"
# IceWM looks for menu icons only in its IconPath, not in the user's icon theme folder.
cat > "$HOME/.icewm/preferences" <<PREFS
IconPath="$ICONS/48x48/apps:$ICONS/32x32/apps:$ICONS/16x16/apps"
TaskBarShowClock=0
TaskBarShowCPUStatus=0
TaskBarShowNetStatus=0
TaskBarShowMEMStatus=0
TaskBarShowMailboxStatus=0
TaskBarShowAPMStatus=0
PREFS
icewm >/dev/null 2>&1 & WM_PID=$!
sleep 2
"$APP" gui >/dev/null 2>&1 & APP_PID=$!
sleep "${WAIT_S:-12}"  # the window, then TensorFlow loading in the background
# Start menu > Science > ArtificialIntelligence > TL Studio (positions of IceWM's default menu at 1280x800).
xdotool key ctrl+Escape; sleep 1
xdotool mousemove 50 622 click 1; sleep 1
xdotool mousemove 240 623 click 1; sleep 1
xdotool mousemove 450 623; sleep 1
import -window root "$OUT"
echo "wrote $OUT"
