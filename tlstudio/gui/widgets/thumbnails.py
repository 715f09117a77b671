"""Images for widgets: numpy arrays to QImage, and thumbnails decoded off the GUI thread.

A QImage may be made in any thread (a QPixmap only in the GUI thread), so background tasks
return QImages and the GUI thread turns them into pixmaps.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage

from tlstudio.data import load_image
from tlstudio.gui.background import Task, TaskContext, TaskRunner


def array_to_qimage(array: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 array as a QImage that owns its pixels (safe to make off the GUI thread)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width, _ = array.shape
    return QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def decode_thumbnails(paths: Sequence[Path], size: int, resize: str, context: TaskContext,
                      pixel_ratio: float = 1.0) -> dict[Path, QImage]:
    """Square thumbnails of `paths`, `size` logical pixels at `pixel_ratio` device pixels each (sharp on a
    HiDPI screen); a file that cannot be read is left out. Run in a background task."""
    found: dict[Path, QImage] = {}
    for done, path in enumerate(paths, start=1):
        if context.cancelled:
            break
        try:
            image = array_to_qimage(load_image(path, round(size * pixel_ratio), resize))
            image.setDevicePixelRatio(pixel_ratio)
            found[path] = image
        except (OSError, ValueError):
            pass  # a file that changed since it was listed is simply shown without a picture
        context.progress(done, len(paths))
    return found


class ThumbnailCache(QObject):
    """Decodes thumbnails in the background, keeps the most recent ones, says when some are ready.

    `request(paths)` returns at once; `ready` later carries the paths whose images `image(path)`
    now gives. Paths already being decoded are not decoded twice; `cancel()` drops pending work.
    """

    ready = Signal(list)  # list[Path]

    def __init__(self, runner: TaskRunner, size: int, resize: str = "center-crop", capacity: int = 2000,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._runner = runner
        self.size = size
        self.resize = resize
        self._capacity = capacity
        self._images: OrderedDict[Path, QImage] = OrderedDict()
        self._tasks: set[Task] = set()
        self._pending: set[Path] = set()

    def image(self, path: Path) -> QImage | None:
        return self._images.get(Path(path))

    @property
    def loading(self) -> bool:
        return bool(self._tasks)

    def set_resize(self, resize: str) -> None:
        """Thumbnails show what the model sees, so they follow the run's resize policy."""
        if resize != self.resize:
            self.cancel()
            self.resize = resize
            self._images.clear()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self._pending.clear()

    def request(self, paths: Sequence[Path]) -> None:
        paths = [Path(p) for p in paths]
        cached = [p for p in paths if p in self._images]
        if cached:
            self.ready.emit(cached)
        missing = [p for p in dict.fromkeys(paths) if p not in self._images and p not in self._pending]
        if not missing:
            return
        size, resize = self.size, self.resize
        app = QGuiApplication.instance()
        ratio = app.devicePixelRatio() if isinstance(app, QGuiApplication) else 1.0

        def work(context: TaskContext) -> dict[Path, QImage]:
            return decode_thumbnails(missing, size, resize, context, ratio)

        task = self._runner.submit("loading thumbnails", work)
        task.succeeded.connect(self._on_decoded)
        task.finished.connect(self._on_finished)
        task.paths = missing  # type: ignore[attr-defined]
        self._tasks.add(task)
        self._pending.update(missing)

    @Slot(object)
    def _on_decoded(self, images: dict[Path, QImage]) -> None:
        for path, image in images.items():
            self._images[path] = image
            self._images.move_to_end(path)
        while len(self._images) > self._capacity:
            self._images.popitem(last=False)
        self.ready.emit(list(images))

    @Slot()
    def _on_finished(self) -> None:
        task = self.sender()
        if task in self._tasks:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._pending.difference_update(getattr(task, "paths", []))
