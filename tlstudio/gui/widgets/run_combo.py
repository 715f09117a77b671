"""A combo box of the project's runs that have a model, newest first, for the pages that use one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QSizePolicy, QWidget

from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import named
from tlstudio.predict.formats import file_dialog_filter

NO_RUN_TEXT = "No trained model yet: train one on the Run page"
MAX_WIDTH = 480


MODEL_FILE_FILTER = file_dialog_filter()


class RunCombo(QComboBox):
    """Lists `history`'s runs with a model.keras (and model files added with `add_model_file`); a run
    that just finished is selected, else the user's choice is kept. `run_changed` carries the selected
    run folder or model file, or None."""

    run_changed = Signal(object)  # Path | None

    def __init__(self, history: RunHistory, object_name: str, accessible_name: str, tooltip: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        named(self, object_name, accessible_name, tooltip)
        self._history = history
        self._current: Path | None = None
        self._files: list[Path] = []  # exported model files opened here, listed after the runs
        # Run labels are long; the combo shrinks with the window and the popup shows them whole.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.view().setMinimumWidth(420)
        self.currentIndexChanged.connect(self._on_index_changed)
        history.changed.connect(self.refill)
        self.refill()

    def sizeHint(self) -> QSize:  # noqa: N802
        """Wide enough for the longest run label where there is room (up to MAX_WIDTH)."""
        hint = super().sizeHint()
        longest = max((self.fontMetrics().horizontalAdvance(self.itemText(i)) for i in range(self.count())),
                      default=0)
        return QSize(min(max(hint.width(), longest + 48), MAX_WIDTH), hint.height())

    @property
    def selected_run(self) -> Path | None:
        data = self.currentData()
        return Path(data) if data else None

    def choose_model_file(self, title: str) -> None:
        """Ask for an exported model file (a dialog titled `title`) and list it (add_model_file)."""
        path, _ = QFileDialog.getOpenFileName(self, title, str(Path.home()), MODEL_FILE_FILTER)
        if path:
            self.add_model_file(Path(path))

    def add_model_file(self, path: Path) -> None:
        """List an exported model file (or SavedModel folder, by itself or its saved_model.pb) beside the runs,
        and select it."""
        path = Path(path).expanduser().resolve()
        if path.name == "saved_model.pb":
            path = path.parent
        if path not in self._files:
            self._files.append(path)
            self.refill()
        self.select(path)

    def select(self, run: Path) -> bool:
        index = self.findData(str(run))
        if index >= 0:
            self.setCurrentIndex(index)
        return index >= 0

    @Slot()
    def refill(self) -> None:
        previous = self.currentData()
        listed_before = {self.itemData(i) for i in range(self.count())}
        blocked = self.blockSignals(True)
        self.clear()
        for summary in self._history.summaries:
            if summary.has_model:
                self.addItem(summary.label, str(summary.path))
                self.setItemData(self.count() - 1, str(summary.path), Qt.ItemDataRole.ToolTipRole)
        for path in self._files:
            self.addItem(f"File: {path.name}", str(path))
            self.setItemData(self.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        if self.count() == 0:
            self.addItem(NO_RUN_TEXT, None)
        newest = self.itemData(0)
        keep = previous if previous and newest in listed_before else newest
        self.setCurrentIndex(max(self.findData(keep), 0))
        self.blockSignals(blocked)
        self.updateGeometry()
        self._on_index_changed()

    @Slot()
    def _on_index_changed(self, *_: object) -> None:
        run = self.selected_run
        if run != self._current:
            self._current = run
            self.run_changed.emit(run)
