"""The app's look: Fusion with a light or dark palette, and a small style sheet keyed on `role` properties.

The colour scheme follows the desktop's (Qt's `QStyleHints.colorScheme`) unless the View menu forces
light or dark. Widgets that paint colours of their own (the plots, the confusion matrix) read
`is_dark(widget.palette())` when their palette changes, so they follow every switch.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2f6fd0"
SCHEMES = ("system", "light", "dark")  # the View menu's choices, stored in the app settings
_SCHEME_PROPERTY = "tlstudioColorScheme"

LIGHT = {
    "window": "#f6f7f9", "base": "#ffffff", "alternate": "#f4f6f9", "text": "#1d2733", "hint": "#5c6470",
    "group": "#fbfcfd", "border": "#d5dae1", "group_title": "#26313d", "steps": "#eef2f7",
    "step_selected": "#ffffff", "step_selected_text": "#10233a", "step_hover": "#e3e9f1",
    "error_bg": "#fdecea", "error_border": "#f1b8b3", "error_text": "#7f1d16",
    "warning_bg": "#fff7e2", "warning_border": "#f0d589", "warning_text": "#5e4500",
    "info_bg": "#e8f1fd", "info_border": "#b9d2f3", "ready": "#1c6b35", "blocked": "#8a4b00",
    "drop": "#ffffff", "drop_border": "#c3cad4", "thumbnail": "#eef1f5", "thumbnail_border": "#d7dce3",
    "log": "#fbfbfc", "progress": "#f3f5f8", "progress_border": "#c8ced6", "chunk": "#5b95e0",
    "primary_disabled": "#a9bedf", "primary_disabled_text": "#f2f5fa", "tooltip": "#ffffe8",
    "button": "#efefef",
}
DARK = {
    "window": "#1f2329", "base": "#16191d", "alternate": "#22262c", "text": "#e3e7ec", "hint": "#9aa3ae",
    "group": "#242930", "border": "#3a414b", "group_title": "#d5dbe2", "steps": "#1a1e23",
    "step_selected": "#2b323b", "step_selected_text": "#ffffff", "step_hover": "#262c34",
    "error_bg": "#4a1f1c", "error_border": "#8a3a33", "error_text": "#ffd7d2",
    "warning_bg": "#44391a", "warning_border": "#8a7331", "warning_text": "#ffe9a8",
    "info_bg": "#1c3350", "info_border": "#36587f", "ready": "#7fd49a", "blocked": "#f0b561",
    "drop": "#1b1f24", "drop_border": "#4a525d", "thumbnail": "#2a3038", "thumbnail_border": "#3e4650",
    "log": "#181b1f", "progress": "#2a2f36", "progress_border": "#454d58", "chunk": "#4d8ae0",
    "primary_disabled": "#34475f", "primary_disabled_text": "#8d9bb0", "tooltip": "#2c3239",
    "button": "#2e343c",
}


def colours(dark: bool) -> dict[str, str]:
    return DARK if dark else LIGHT


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether `palette` (the application's by default) is a dark one: light text on a dark window."""
    palette = palette if palette is not None else QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < palette.color(
        QPalette.ColorRole.WindowText).lightness()


def style_sheet(dark: bool = False) -> str:
    c = colours(dark)
    return f"""
QLabel[role="pageTitle"] {{ font-size: 17pt; font-weight: 600; color: {c["text"]}; }}
QLabel[role="startTitle"] {{ font-size: 22pt; font-weight: 600; color: {c["text"]}; }}
QLabel[role="heading"] {{ font-size: 11pt; font-weight: 600; color: {c["text"]}; margin-top: 6px; }}
QLabel[role="hint"] {{ color: {c["hint"]}; }}
QLabel[role="summary"] {{ color: {c["text"]}; }}
QLabel[role="error"] {{ background: {c["error_bg"]}; border: 1px solid {c["error_border"]}; border-radius: 4px;
    color: {c["error_text"]}; padding: 6px 8px; }}
QLabel[role="warning"] {{ background: {c["warning_bg"]}; border: 1px solid {c["warning_border"]};
    border-radius: 4px; color: {c["warning_text"]}; padding: 6px 8px; }}
QLabel[role="ready"] {{ color: {c["ready"]}; }}
QLabel[role="blocked"] {{ color: {c["blocked"]}; }}
QLabel[role="dropTarget"] {{ background: {c["drop"]}; border: 2px dashed {c["drop_border"]}; border-radius: 6px;
    color: {c["hint"]}; }}
QLabel[role="thumbnail"] {{ background: {c["thumbnail"]}; border: 1px solid {c["thumbnail_border"]}; }}
QGroupBox {{ font-weight: 600; border: 1px solid {c["border"]}; border-radius: 6px; margin-top: 10px;
    padding: 10px 8px 6px 8px; background: {c["group"]}; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {c["group_title"]}; }}
QGroupBox QLabel, QGroupBox QCheckBox, QGroupBox QRadioButton {{ font-weight: normal; }}
QListWidget#stepList {{ background: {c["steps"]}; border: none; border-right: 1px solid {c["border"]};
    font-size: 11pt; padding-top: 8px; outline: 0; }}
QListWidget#stepList::item {{ padding: 9px 10px 9px 14px; border-left: 3px solid transparent;
    color: {c["group_title"]}; }}
QListWidget#stepList::item:selected {{ background: {c["step_selected"]}; color: {c["step_selected_text"]};
    border-left: 3px solid {ACCENT}; }}
QListWidget#stepList::item:hover:!selected {{ background: {c["step_hover"]}; }}
QFrame#messageBar[level="error"] {{ background: {c["error_bg"]}; border: 1px solid {c["error_border"]};
    border-radius: 4px; }}
QFrame#messageBar[level="warning"] {{ background: {c["warning_bg"]}; border: 1px solid {c["warning_border"]};
    border-radius: 4px; }}
QFrame#messageBar[level="info"] {{ background: {c["info_bg"]}; border: 1px solid {c["info_border"]};
    border-radius: 4px; }}
QPushButton[role="primary"], QToolButton[role="primary"] {{ background: {ACCENT}; color: white;
    border: 1px solid #2a62b8; border-radius: 4px; padding: 5px 14px; font-weight: 600; }}
QPushButton[role="primary"]:hover, QToolButton[role="primary"]:hover {{ background: #2a62b8; }}
QPushButton[role="primary"]:disabled, QToolButton[role="primary"]:disabled {{ background: {c["primary_disabled"]};
    border-color: {c["primary_disabled"]}; color: {c["primary_disabled_text"]}; }}
QToolButton#runStopButton {{ padding: 5px 12px; }}
QTableView[role="heatmap"] {{ gridline-color: {c["base"]}; }}
QLabel[role="metric"] {{ font-size: 15pt; font-weight: 600; color: {c["text"]}; }}
QPlainTextEdit[role="log"] {{ font-family: monospace; font-size: 9pt; background: {c["log"]}; }}
QProgressBar {{ border: 1px solid {c["progress_border"]}; border-radius: 4px; background: {c["progress"]};
    text-align: center; min-height: 18px; color: {c["text"]}; }}
QProgressBar::chunk {{ background: {c["chunk"]}; border-radius: 3px; }}
"""


STYLE_SHEET = style_sheet(False)  # the light one, for callers that predate dark mode


def palette_for(app: QApplication, dark: bool) -> QPalette:
    c = colours(dark)
    palette = app.style().standardPalette()
    role = QPalette.ColorRole
    settings = {role.Window: c["window"], role.Base: c["base"], role.AlternateBase: c["alternate"],
                role.Highlight: ACCENT, role.HighlightedText: "#ffffff", role.ToolTipBase: c["tooltip"]}
    if dark:
        settings.update({role.WindowText: c["text"], role.Text: c["text"], role.ButtonText: c["text"],
                         role.ToolTipText: c["text"], role.Button: c["button"], role.BrightText: "#ffffff",
                         role.PlaceholderText: c["hint"], role.Link: "#7fb0ff", role.Light: "#3a414b",
                         role.Midlight: "#30363f", role.Mid: "#2a2f36", role.Dark: "#121417",
                         role.Shadow: "#0b0c0e"})
    for colour_role, value in settings.items():
        palette.setColor(colour_role, QColor(value))
    if dark:
        disabled = QPalette.ColorGroup.Disabled
        for colour_role in (role.WindowText, role.Text, role.ButtonText):
            palette.setColor(disabled, colour_role, QColor("#6c7480"))
    return palette


def system_is_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def resolve_dark(app: QApplication, scheme: str) -> bool:
    return scheme == "dark" or (scheme == "system" and system_is_dark(app))


def current_scheme(app: QApplication | None = None) -> str:
    app = app or QApplication.instance()
    value = app.property(_SCHEME_PROPERTY) if app is not None else None
    return value if value in SCHEMES else "system"


def apply_style(app: QApplication, scheme: str | None = None) -> None:
    """Fusion looks the same on every platform, which keeps screenshots and docs honest. `scheme` is
    "system" (the desktop's), "light" or "dark"; None keeps the current choice. The main window calls
    `follow_system_scheme` when the desktop switches."""
    scheme = scheme if scheme in SCHEMES else current_scheme(app)
    app.setProperty(_SCHEME_PROPERTY, scheme)
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette_for(app, resolve_dark(app, scheme)))


def follow_system_scheme(app: QApplication) -> bool:
    """The desktop switched between light and dark: follow it if the choice is "system". Returns
    whether the palette was set again."""
    if current_scheme(app) != "system":
        return False
    apply_style(app, "system")
    return True
