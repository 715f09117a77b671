"""Data page: choose the folder, see what the scan found, set the validation split."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data import DatasetIndex
from tlstudio.gui.app_settings import AppSettings
from tlstudio.gui.background import Task, TaskContext, TaskRunner
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.dataset_health import HealthPanel
from tlstudio.gui.state.bindings import FieldBinding, bind_combo, bind_spin
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.style import is_dark
from tlstudio.gui.widgets.common import CollapsibleSection, float_spin, hint_label, int_spin, named
from tlstudio.gui.widgets.responsive import WrapAwareSplitter
from tlstudio.gui.widgets.thumbnails import decode_thumbnails
from tlstudio.settings.project import RESIZE_POLICIES

THUMBNAILS_PER_CLASS = 5
THUMBNAIL_SIZE = 44
RESIZE_LABELS = {"center-crop": "Crop the centre square", "stretch": "Stretch to a square",
                 "pad": "Pad to a square"}


def _load_thumbnails(paths_by_class: dict[str, list[Path]], size: int, context: TaskContext,
                     pixel_ratio: float = 1.0) -> dict[str, list[QImage]]:
    decoded = decode_thumbnails([path for paths in paths_by_class.values() for path in paths], size,
                                "center-crop", context, pixel_ratio)
    return {name: [decoded[path] for path in paths if path in decoded] for name, paths in paths_by_class.items()}


class ShareDelegate(QStyledItemDelegate):
    """Draws a class's share of the data as a small bar with its percentage."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        share = index.data(Qt.ItemDataRole.UserRole)
        if share is None:
            super().paint(painter, option, index)
            return
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        rect = option.rect.adjusted(6, option.rect.height() // 2 - 7, -52, -(option.rect.height() // 2 - 7))
        painter.setPen(Qt.PenStyle.NoPen)
        track = option.palette.color(QPalette.ColorRole.AlternateBase)
        painter.setBrush(track.lighter(170) if is_dark(option.palette) else track.darker(108))
        painter.drawRoundedRect(rect, 3, 3)
        filled = QRect(rect)
        filled.setWidth(max(2, int(rect.width() * float(share))))
        painter.setBrush(QColor("#3d7fc4"))
        painter.drawRoundedRect(filled, 3, 3)
        painter.setPen(option.palette.text().color())
        text_rect = QRect(rect.right() + 6, option.rect.top(), 46, option.rect.height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         f"{float(share):.0%}")
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:  # noqa: N802
        return QSize(140, 24)


class DataPage(Page):
    """Wraps the DatasetModel (scan results) and the Project's data settings."""

    folder_chosen = Signal(str)

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 app_settings: AppSettings, parent: QWidget | None = None):
        super().__init__("Data", "A folder with one sub-folder of images per class (or train/ and val/ "
                         "folders that hold them). Drop a folder anywhere on this page.", "dataPage",
                         parent=parent)
        self._project = project
        self._dataset = dataset
        self._runner = runner
        self._app_settings = app_settings
        self._thumbnail_task: Task | None = None
        self.thumbnails: dict[str, list[QImage]] = {}
        self.setAcceptDrops(True)

        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)

        folder_row = QHBoxLayout()
        self.folder_edit = named(QLineEdit(), "dataFolderEdit", "Data folder",
                                 "The folder of class sub-folders; type a path and press Enter, or choose one.")
        self.folder_edit.setPlaceholderText("No folder chosen: choose one, or drop it here")
        self.folder_edit.returnPressed.connect(self._on_folder_typed)
        folder_row.addWidget(self.folder_edit, 1)
        self.choose_button = named(QPushButton("Choose folder…"), "dataChooseFolderButton",
                                   "Choose data folder")
        self.choose_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.choose_button.clicked.connect(self.choose_folder)
        folder_row.addWidget(self.choose_button)
        self.recent_button = named(QToolButton(), "dataRecentFoldersButton", "Recent data folders")
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.setObjectName("dataRecentFoldersMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.recent_button.setMenu(self.recent_menu)
        folder_row.addWidget(self.recent_button)
        self.rescan_button = named(QToolButton(), "dataRescanButton", "Scan again",
                                   "Scan the folder again after changing files in it.")
        self.rescan_button.setText("Scan again")
        self.rescan_button.clicked.connect(self._dataset.rescan)
        folder_row.addWidget(self.rescan_button)
        layout.addLayout(folder_row)

        status_row = QHBoxLayout()
        self.progress = named(QProgressBar(), "dataScanProgress", "Scan progress")
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        status_row.addWidget(self.progress)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("dataSummaryLabel")
        self.summary_label.setProperty("role", "summary")
        status_row.addWidget(self.summary_label, 1)
        layout.addLayout(status_row)

        self.error_label = QLabel()
        self.error_label.setObjectName("dataErrorLabel")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        splitter = WrapAwareSplitter(Qt.Orientation.Horizontal)  # wrapped text beside it keeps its height
        splitter.setObjectName("dataSplitter")
        splitter.setChildrenCollapsible(False)
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.setObjectName("dataHealthSplitter")
        vertical.setChildrenCollapsible(False)
        vertical.addWidget(splitter)
        self.health_panel = HealthPanel(project, runner)
        self.health_panel.files_moved.connect(self._dataset.rescan)
        vertical.addWidget(self.health_panel)
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 2)
        layout.addWidget(vertical, 1)

        self.class_table = named(QTableWidget(0, 4), "dataClassTable", "Classes",
                                 "Each class: its images, its share of the data and a few examples.")
        self.class_table.setHorizontalHeaderLabels(["Class", "Images", "Share", "Examples"])
        self.class_table.verticalHeader().hide()
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.class_table.setAlternatingRowColors(True)
        self.class_table.setShowGrid(False)
        self.class_table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 8)
        header = self.class_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.class_table.setColumnWidth(2, 150)
        self.class_table.setItemDelegateForColumn(2, ShareDelegate(self.class_table))
        splitter.addWidget(self.class_table)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.setSpacing(8)
        split_box = QGroupBox("Split and sizing")
        split_form = QFormLayout(split_box)
        self.val_split_spin = named(float_spin(1.0, 90.0, step=5.0, decimals=0, suffix=" %"),
                                    "dataValSplitSpin", "Validation share",
                                    "The share of each class held out to measure accuracy on unseen images.")
        split_form.addRow("Validation share", self.val_split_spin)
        self.given_split_label = hint_label()
        self.given_split_label.setObjectName("dataGivenSplitLabel")
        split_form.addRow(self.given_split_label)
        self.seed_spin = named(int_spin(0, 2**31 - 1), "dataSeedSpin", "Random seed",
                               "The same seed gives the same split, shuffling and augmentation.")
        split_form.addRow("Random seed", self.seed_spin)
        self.resize_combo = named(QComboBox(), "dataResizeCombo", "Resize policy",
                                  "How images that are not square are fitted to the model's square input.")
        for policy in RESIZE_POLICIES:
            self.resize_combo.addItem(RESIZE_LABELS.get(policy, policy), policy)
        split_form.addRow("Non-square images", self.resize_combo)
        side_layout.addWidget(split_box)

        self.warnings_label = QLabel()
        self.warnings_label.setObjectName("dataWarningsLabel")
        self.warnings_label.setProperty("role", "warning")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label.hide()
        side_layout.addWidget(self.warnings_label)

        self.skipped_tree = named(QTreeWidget(), "dataSkippedList", "Skipped files",
                                  "Image files that cannot be used, and why.")
        self.skipped_tree.setHeaderLabels(["File", "Reason"])
        self.skipped_tree.setRootIsDecorated(False)
        self.skipped_tree.setMinimumHeight(120)
        self.skipped_section = CollapsibleSection("Skipped files (0)", self.skipped_tree, "dataSkippedToggle")
        side_layout.addWidget(self.skipped_section)
        self.ignored_label = hint_label()
        self.ignored_label.setObjectName("dataIgnoredLabel")
        side_layout.addWidget(self.ignored_label)
        side_layout.addStretch(1)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self._bindings = [
            FieldBinding(project, "data.val_split", self.val_split_spin, self.val_split_spin.valueChanged,
                         lambda: round(self.val_split_spin.value() / 100.0, 4),
                         lambda value: self.val_split_spin.setValue(value * 100.0)),
            bind_spin(project, "training.seed", self.seed_spin),
            bind_combo(project, "data.resize", self.resize_combo),
        ]
        project.changed.connect(self._on_project_changed)
        dataset.scan_started.connect(self._on_scan_started)
        dataset.scan_progressed.connect(self._on_scan_progressed)
        dataset.state_changed.connect(self._refresh)
        dataset.scanned.connect(self._on_scanned)
        self._refresh()

    # -- choosing a folder ------------------------------------------------------------------------

    @Slot()
    def choose_folder(self) -> None:
        start = self._project.project.data.folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the data folder", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str | Path) -> None:
        """Use `folder` as the Project's data folder (the scan starts by itself)."""
        path = str(Path(folder).expanduser().resolve())
        if self._project.project.data.folder == path:
            self._dataset.rescan()
        else:
            self._project.set("data.folder", path)
        self._app_settings.remember_folder(path)
        self.folder_chosen.emit(path)

    @Slot()
    def _on_folder_typed(self) -> None:
        text = self.folder_edit.text().strip()
        if text:
            self.set_folder(text)

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self._app_settings.recent_folders
        if not folders:
            action = self.recent_menu.addAction("No recent folders")
            action.setEnabled(False)
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.setData(folder)
            action.triggered.connect(self._on_recent_triggered)

    @Slot()
    def _on_recent_triggered(self) -> None:
        action = self.sender()
        folder = action.data() if action is not None else None
        if folder:
            self.set_folder(folder)

    # -- drag and drop ----------------------------------------------------------------------------

    @staticmethod
    def dropped_folder(urls: list[QUrl]) -> str | None:
        for url in urls:
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and self.dropped_folder(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folder = self.dropped_folder(event.mimeData().urls()) if event.mimeData().hasUrls() else None
        if folder:
            event.acceptProposedAction()
            self.set_folder(folder)
        else:
            event.ignore()

    # -- showing the scan ---------------------------------------------------------------------------

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        self.folder_edit.setText(self._project.project.data.folder or "")

    @Slot(str)
    def _on_scan_started(self, folder: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("Scanning…")
        self.progress.show()
        self.class_table.setRowCount(0)
        self.thumbnails = {}

    @Slot(int, int)
    def _on_scan_progressed(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"Checking images: {done} / {total}")

    @Slot(object)
    def _on_scanned(self, index: DatasetIndex) -> None:
        self._fill_class_table(self._project.project.included(index))
        self._load_thumbnails()

    @Slot()
    def _refresh(self) -> None:
        dataset = self._dataset
        index = dataset.index
        self.folder_edit.setText(self._project.project.data.folder or "")
        self.progress.setVisible(dataset.scanning)
        self.rescan_button.setEnabled(bool(self._project.project.data.folder) and not dataset.scanning)
        reason = dataset.blocking_reason()
        has_folder = bool(self._project.project.data.folder)
        show_error = has_folder and reason is not None and not dataset.scanning
        self.error_label.setText(f"<b>Training is blocked.</b> {reason}" if show_error else "")
        self.error_label.setVisible(show_error)
        if index is None:
            self.summary_label.setText("Scanning…" if dataset.scanning else
                                       ("" if has_folder else "Choose a folder to begin."))
            self.warnings_label.hide()
            self.skipped_tree.clear()
            self.skipped_section.set_title("Skipped files (0)")
            self.skipped_section.setVisible(False)
            self.ignored_label.setText("")
            self.given_split_label.hide()
            self.val_split_spin.setEnabled(True)
            if not dataset.scanning:
                self.class_table.setRowCount(0)
            self.summary_changed.emit()
            return
        scanned = len(index.items)
        index = self._project.project.included(index)  # what the project counts and splits
        total = len(index.items)
        classes = len(index.classes)
        text = (f"<b>{classes}</b> class{'es' if classes != 1 else ''} · <b>{total}</b> usable "
                f"image{'s' if total != 1 else ''}")
        if total != scanned:
            text += f" ({scanned - total} excluded in the project)"
        if dataset.train_count is not None:
            text += f" · {dataset.train_count} for training, {dataset.val_count} for validation"
        self.summary_label.setText(text)
        given = index.split_mode == "given"
        self.val_split_spin.setEnabled(not given)
        self.given_split_label.setVisible(given)
        if given:
            self.given_split_label.setText("Using your train/ and val/ folders as the split.")
        if index.warnings:
            self.warnings_label.setText("<b>Worth a look:</b><br>" + "<br>".join(f"• {w}" for w in index.warnings))
        self.warnings_label.setVisible(bool(index.warnings))
        self.skipped_tree.clear()
        for skipped in index.skipped:
            try:
                shown = str(Path(skipped.path).relative_to(index.root))
            except ValueError:
                shown = str(skipped.path)
            item = QTreeWidgetItem([shown, skipped.reason])
            item.setToolTip(0, str(skipped.path))
            item.setToolTip(1, skipped.reason)
            self.skipped_tree.addTopLevelItem(item)
        self.skipped_tree.resizeColumnToContents(0)
        self.skipped_section.set_title(f"Skipped files ({len(index.skipped)})")
        self.skipped_section.setVisible(bool(index.skipped))
        if index.ignored:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(index.ignored_by_reason.items()) if n)
            self.ignored_label.setText(f"Ignored {index.ignored} other entries ({kinds}).")
        else:
            self.ignored_label.setText("")
        if self.class_table.rowCount() != len(index.classes):
            self._fill_class_table(index)
        else:
            self._set_counts(index)
        self.summary_changed.emit()

    def _fill_class_table(self, index: DatasetIndex) -> None:
        self.class_table.setRowCount(len(index.classes))
        for row, name in enumerate(index.classes):
            name_item = QTableWidgetItem(name)
            name_item.setToolTip(name)
            self.class_table.setItem(row, 0, name_item)
            self.class_table.setCellWidget(row, 3, self._thumbnail_strip(self.thumbnails.get(name, [])))
        self._set_counts(index)

    def _set_counts(self, index: DatasetIndex) -> None:
        """Each class's count and share (of the images the project uses: excluded files left out)."""
        counts = index.counts
        by_split = index.counts_by_split() if index.split_mode == "given" else {}
        total = max(1, len(index.items))
        for row, name in enumerate(index.classes):
            count_text = str(counts[name])
            if by_split:
                count_text += "  (" + ", ".join(f"{split} {per[name]}" for split, per in by_split.items()) + ")"
            count_item = QTableWidgetItem(count_text)
            count_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.class_table.setItem(row, 1, count_item)
            share_item = QTableWidgetItem()
            share_item.setData(Qt.ItemDataRole.UserRole, counts[name] / total)
            share_item.setToolTip(f"{counts[name] / total:.1%} of the usable images")
            self.class_table.setItem(row, 2, share_item)

    def _thumbnail_strip(self, images: list[QImage]) -> QWidget:
        strip = QWidget()
        layout = QHBoxLayout(strip)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(4)
        for image in images:
            label = QLabel()
            label.setPixmap(QPixmap.fromImage(image))
            label.setFixedSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
            layout.addWidget(label)
        layout.addStretch(1)
        return strip

    def _load_thumbnails(self) -> None:
        if self._thumbnail_task is not None:
            self._thumbnail_task.cancel()
        paths = self._dataset.example_paths(THUMBNAILS_PER_CLASS)
        if not paths:
            return
        ratio = self.devicePixelRatioF()  # as many pixels as the screen shows: sharp at 200 %

        def work(context: TaskContext) -> dict[str, list[QImage]]:
            return _load_thumbnails(paths, THUMBNAIL_SIZE, context, ratio)

        self._thumbnail_task = self._runner.submit("loading thumbnails", work)
        self._thumbnail_task.succeeded.connect(self._on_thumbnails_loaded)

    @Slot(object)
    def _on_thumbnails_loaded(self, thumbnails: dict[str, list[QImage]]) -> None:
        self._thumbnail_task = None
        self.thumbnails = thumbnails
        index = self._dataset.index
        if index is None:
            return
        for row, name in enumerate(index.classes):
            if row < self.class_table.rowCount():
                self.class_table.setCellWidget(row, 3, self._thumbnail_strip(thumbnails.get(name, [])))

    def summary(self) -> str:
        index = self._dataset.index
        if self._dataset.scanning:
            return "scanning…"
        if index is None:
            return "choose a folder"
        if index.errors:
            return "needs a fix"
        return f"{len(index.classes)} classes · {len(self._project.project.included(index).items)} images"
