"""The cache folder's size in one line, with a button that empties it (the Training page's Speed box)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from tlstudio.base.cache_folder import CACHE_KINDS, cache_dir, cache_limit_bytes, cache_usage, clear_cache
from tlstudio.base.text import format_bytes
from tlstudio.gui.widgets.common import named


class CacheLine(QWidget):
    """'Caches: 1.2 GB' and Clear caches. Counted whenever the line is shown (a few hundred files at most)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cacheLine")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setObjectName("cacheSizeLabel")
        self.label.setAccessibleName("Cache size")
        self.clear_button = named(QPushButton("Clear caches"), "clearCachesButton", "Clear caches",
                                  "Delete the decoded images, backbone features and converted backbones kept "
                                  "between runs. Nothing you made is touched; the next run makes them again.")
        self.clear_button.clicked.connect(self.clear)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.clear_button)
        self.refresh()

    def refresh(self, note: str = "") -> None:
        usage = cache_usage()
        total = sum(size for size, _ in usage.values())
        self.label.setText(f"Caches: {format_bytes(total)}" + (f" ({note})" if note else ""))
        lines = [f"{cache_dir()}",
                 f"Decoded images, features and converted backbones are kept under {format_bytes(cache_limit_bytes())};"
                 " the least recently used go first."]
        lines += [f"{CACHE_KINDS[kind]}: {format_bytes(size)} in {files} file{'s' if files != 1 else ''}"
                  for kind, (size, files) in usage.items()]
        self.label.setToolTip("\n".join(lines))
        self.clear_button.setEnabled(total > 0)

    def clear(self) -> None:
        freed = clear_cache()
        self.refresh(f"cleared {format_bytes(freed)}")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.refresh()
