"""Helpers the GUI tests and their fixtures share."""

from PySide6.QtCore import QCoreApplication


def dispose(window) -> None:
    """Close and delete a window now, while its Python wrappers are alive. Left to the garbage
    collector, pyqtgraph items can lose their attributes before Qt stops asking them for sizes."""
    import shiboken6
    from PySide6.QtCore import QEvent

    if not shiboken6.isValid(window):
        return
    window.shutdown()
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def wait_for_scan(qtbot, window, timeout=20_000):
    """Wait until the data folder's scan (and split) is done."""
    qtbot.waitUntil(lambda: not window.dataset.scanning and window.dataset.index is not None, timeout=timeout)
