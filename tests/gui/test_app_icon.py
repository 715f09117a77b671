"""The desktop app wears TL Studio's icon: in the title bar, the task switcher and the launcher."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QSize
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from tlstudio.gui.app import app_icon, create_application


def test_the_icon_has_every_size_a_desktop_asks_for(qapp):
    sizes = app_icon().availableSizes()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert QSize(size, size) in sizes


def test_the_main_window_shows_the_app_icon(make_window):
    names = (QCoreApplication.organizationName(), QCoreApplication.applicationName(),
             QGuiApplication.applicationDisplayName(), QGuiApplication.desktopFileName())
    try:
        app = create_application()
        window = make_window()
        icon = window.windowIcon()
        assert not icon.isNull()
        assert QSize(512, 512) in icon.availableSizes()
        # A real picture, not a blank: the 32 px render has the tile's blue in its middle.
        pixel = icon.pixmap(32, 32).toImage().pixelColor(16, 28)
        assert pixel.blue() > pixel.red() and pixel.alpha() == 255
        assert app.desktopFileName() == "tlstudio"
    finally:
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])
        QGuiApplication.setApplicationDisplayName(names[2])
        QGuiApplication.setDesktopFileName(names[3])
        QApplication.setWindowIcon(QIcon())
