"""Render TL Studio's icon from its SVG source into the PNG sizes desktops and installers ask for.

    python packaging/render_icon.py

Reads `resources/icons/tlstudio.svg` and writes `tlstudio-<size>.png` beside it for each size
in SIZES (16 to 512 px), with Qt's SVG renderer. Run it after editing the SVG and commit the PNGs: the
app and the launcher load the PNGs, so Qt's SVG module is not needed at run time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SVG = ICONS / "tlstudio.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path = SVG, out: Path = ICONS, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (Qt needs one)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icon: {svg} is not a valid SVG; fix the file and run again.")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out / f"tlstudio-{size}.png"
        if not image.save(str(path)):
            raise SystemExit(f"render_icon: could not write {path}; check that the folder is writable.")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in render():
        print(f"wrote {path.relative_to(ROOT)}")
