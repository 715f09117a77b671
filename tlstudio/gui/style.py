"""The app's look: Fusion with a light palette, and a small style sheet keyed on `role` properties."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2f6fd0"

STYLE_SHEET = f"""
QLabel[role="pageTitle"] {{ font-size: 17pt; font-weight: 600; color: #1d2733; }}
QLabel[role="startTitle"] {{ font-size: 22pt; font-weight: 600; color: #1d2733; }}
QLabel[role="heading"] {{ font-size: 11pt; font-weight: 600; color: #1d2733; margin-top: 6px; }}
QLabel[role="hint"] {{ color: #5c6470; }}
QLabel[role="summary"] {{ color: #1d2733; }}
QLabel[role="error"] {{ background: #fdecea; border: 1px solid #f1b8b3; border-radius: 4px;
    color: #7f1d16; padding: 6px 8px; }}
QLabel[role="warning"] {{ background: #fff7e2; border: 1px solid #f0d589; border-radius: 4px;
    color: #5e4500; padding: 6px 8px; }}
QLabel[role="ready"] {{ color: #1c6b35; }}
QLabel[role="blocked"] {{ color: #8a4b00; }}
QLabel[role="dropTarget"] {{ background: #ffffff; border: 2px dashed #c3cad4; border-radius: 6px;
    color: #5c6470; }}
QLabel[role="thumbnail"] {{ background: #eef1f5; border: 1px solid #d7dce3; }}
QGroupBox {{ font-weight: 600; border: 1px solid #d5dae1; border-radius: 6px; margin-top: 10px;
    padding: 10px 8px 6px 8px; background: #fbfcfd; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #26313d; }}
QGroupBox QLabel, QGroupBox QCheckBox, QGroupBox QRadioButton {{ font-weight: normal; }}
QListWidget#stepList {{ background: #eef2f7; border: none; border-right: 1px solid #d5dae1;
    font-size: 11pt; padding-top: 8px; outline: 0; }}
QListWidget#stepList::item {{ padding: 9px 10px 9px 14px; border-left: 3px solid transparent; color: #26313d; }}
QListWidget#stepList::item:selected {{ background: #ffffff; color: #10233a;
    border-left: 3px solid {ACCENT}; }}
QListWidget#stepList::item:hover:!selected {{ background: #e3e9f1; }}
QFrame#messageBar[level="error"] {{ background: #fdecea; border: 1px solid #f1b8b3; border-radius: 4px; }}
QFrame#messageBar[level="warning"] {{ background: #fff7e2; border: 1px solid #f0d589; border-radius: 4px; }}
QFrame#messageBar[level="info"] {{ background: #e8f1fd; border: 1px solid #b9d2f3; border-radius: 4px; }}
QPushButton[role="primary"], QToolButton[role="primary"] {{ background: {ACCENT}; color: white;
    border: 1px solid #2a62b8; border-radius: 4px; padding: 5px 14px; font-weight: 600; }}
QPushButton[role="primary"]:hover, QToolButton[role="primary"]:hover {{ background: #2a62b8; }}
QPushButton[role="primary"]:disabled, QToolButton[role="primary"]:disabled {{ background: #a9bedf;
    border-color: #a9bedf; color: #f2f5fa; }}
QToolButton#runStopButton {{ padding: 5px 12px; }}
QTableView[role="heatmap"] {{ gridline-color: #ffffff; }}
QLabel[role="metric"] {{ font-size: 15pt; font-weight: 600; color: #1d2733; }}
QPlainTextEdit[role="log"] {{ font-family: monospace; font-size: 9pt; background: #fbfbfc; }}
QProgressBar {{ border: 1px solid #c8ced6; border-radius: 4px; background: #f3f5f8; text-align: center;
    min-height: 18px; }}
QProgressBar::chunk {{ background: #5b95e0; border-radius: 3px; }}
"""


def apply_style(app: QApplication) -> None:
    """Fusion looks the same on every platform, which keeps screenshots and docs honest."""
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#f6f7f9"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f4f6f9"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffe8"))
    app.setPalette(palette)
