"""The Data page's side: the split and sizing settings (bound to the Project), and what the scan says is
worth a look: its warnings, the files it skipped and why, and the entries it ignored.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFormLayout, QGroupBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from tlstudio.data import DatasetIndex
from tlstudio.gui.state.bindings import FieldBinding
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import CollapsibleSection, float_spin, hint_label, named, text_label
from tlstudio.gui.widgets.field_rows import add_field_rows
from tlstudio.settings.project import describe


class SplitBox(QGroupBox):
    """The validation share (or the folder's own train/ and val/ split), the seed and the resize policy."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Split and sizing", parent)
        form = QFormLayout(self)
        # The field is a fraction strictly between 0 and 1; the spin box shows it as a whole percentage, so
        # its range is the field's (1 to 99 %) rather than a generated row.
        spec = describe("data.val_split")
        self.val_split_spin = named(float_spin(1.0, 99.0, step=5.0, decimals=0, suffix=" %"),
                                    "dataValSplitSpin", spec.label, spec.help.replace("(0-1)", "(1-99 %)"))
        form.addRow(spec.label, self.val_split_spin)
        self.given_split_label = hint_label()
        self.given_split_label.setObjectName("dataGivenSplitLabel")
        form.addRow(self.given_split_label)
        rows = add_field_rows(form, project, {"training.seed": "dataSeedSpin", "data.resize": "dataResizeCombo"})
        self.seed_spin, self.resize_combo = rows["training.seed"], rows["data.resize"]
        self._bindings = [
            FieldBinding(project, "data.val_split", self.val_split_spin, self.val_split_spin.valueChanged,
                         lambda: round(self.val_split_spin.value() / 100.0, 4),
                         lambda value: self.val_split_spin.setValue(value * 100.0)),
        ]

    def show_index(self, index: DatasetIndex | None) -> None:
        """A folder with its own train/ and val/ folders is split by them: no share to choose."""
        given = index is not None and index.split_mode == "given"
        self.val_split_spin.setEnabled(not given)
        self.given_split_label.setVisible(given)
        if given:
            self.given_split_label.setText("Using your train/ and val/ folders as the split.")


class ScanFindings(QWidget):
    """The scan's warnings, the image files it skipped (collapsed until asked for) and what it ignored."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.warnings_label = text_label("dataWarningsLabel", role="warning", selectable=True, hidden=True)
        layout.addWidget(self.warnings_label)
        self.skipped_tree = named(QTreeWidget(), "dataSkippedList", "Skipped files",
                                  "Image files that cannot be used, and why.")
        self.skipped_tree.setHeaderLabels(["File", "Reason"])
        self.skipped_tree.setRootIsDecorated(False)
        self.skipped_tree.setMinimumHeight(120)
        self.skipped_section = CollapsibleSection("Skipped files (0)", self.skipped_tree, "dataSkippedToggle")
        layout.addWidget(self.skipped_section)
        self.ignored_label = hint_label()
        self.ignored_label.setObjectName("dataIgnoredLabel")
        layout.addWidget(self.ignored_label)

    def show_index(self, index: DatasetIndex | None) -> None:
        warnings = index.warnings if index is not None else []
        if warnings:
            self.warnings_label.setText("<b>Worth a look:</b><br>" + "<br>".join(f"• {w}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))
        self.skipped_tree.clear()
        skipped = index.skipped if index is not None else []
        for file in skipped:
            try:
                shown = str(Path(file.path).relative_to(index.root))
            except ValueError:
                shown = str(file.path)
            item = QTreeWidgetItem([shown, file.reason])
            item.setToolTip(0, str(file.path))
            item.setToolTip(1, file.reason)
            self.skipped_tree.addTopLevelItem(item)
        self.skipped_tree.resizeColumnToContents(0)
        self.skipped_section.set_title(f"Skipped files ({len(skipped)})")
        self.skipped_section.setVisible(bool(skipped))
        if index is not None and index.ignored:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(index.ignored_by_reason.items()) if n)
            self.ignored_label.setText(f"Ignored {index.ignored} other entries ({kinds}).")
        else:
            self.ignored_label.setText("")
