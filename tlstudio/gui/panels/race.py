"""The Training page's optimizer race: pick optimizers and learning rates, watch their validation curves
side by side, compare the final results in a table, and use the best (or any) entrant's settings.

The race runs in the app's background pool (`tools/race.py`): each entrant is a real run of the
Trainer on the same data with the same seed, so its result is what a full run would give; with the
backbone frozen they train the head on cached features.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.panels.tool import ToolPanel
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import int_spin, named
from tlstudio.gui.widgets.plots import OVERLAY_COLORS, TRAIN_COLOR, VAL_COLOR
from tlstudio.settings.project import OPTIMIZER_NAMES, describe
from tlstudio.train.events import Observer, PrepareProgress, StopToken

OPTIMIZERS = describe("optimizer.name")  # the optimizers' labels

RACE_COLORS = (TRAIN_COLOR, VAL_COLOR, *OVERLAY_COLORS, "#8c564b", "#e377c2", "#17becf")
COLUMNS = ("Optimizer", "LR", "Val acc", "Val loss", "Best epoch", "Time")


class _RaceProgress(Observer):
    def __init__(self, context: TaskContext) -> None:
        self.context, self.done = context, 0

    def on_prepare(self, event: PrepareProgress) -> None:
        if self.context.status != event.stage and not self.done:
            self.context.message(event.stage)

    def on_log(self, message: str) -> None:
        if message.startswith("race: "):
            self.context.message(message[len("race: "):])


class RacePanel(ToolPanel):
    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None) -> None:
        super().__init__(
            "Optimizer race", "trainingRaceBox",
            "Train the same run with several optimizers and learning rates, one after the other with the same "
            "seed, and compare: each result is what a full run with those settings gives. Quick with a frozen "
            "backbone (cached features).", ("Start race", "trainingRaceStartButton", "Start the optimizer race"),
            project, dataset, runner, tensorflow, parent)
        self._results: list = []
        self.result = None
        grid = QGridLayout()
        self.optimizer_checks: dict[str, QCheckBox] = {}
        for position, name in enumerate(OPTIMIZER_NAMES):
            check = named(QCheckBox(OPTIMIZERS.label_of(name)), f"trainingRace_{name}",
                          f"Race {OPTIMIZERS.label_of(name)}")
            check.setChecked(name in ("sgd", "momentum", "adam"))
            self.optimizer_checks[name] = check
            grid.addWidget(check, *divmod(position, 2))
        self.layout_.addLayout(grid)
        row = QHBoxLayout()
        row.addWidget(QLabel("Learning rates"))
        self.lrs_edit = named(QLineEdit(), "trainingRaceLearningRates", "Race learning rates",
                              "Comma-separated learning rates, e.g. 1e-3, 1e-2; empty: the current one.")
        self.lrs_edit.setPlaceholderText("the current one")
        row.addWidget(self.lrs_edit, 1)
        row.addWidget(QLabel("Epochs"))
        self.epochs_spin = named(int_spin(1, 1000), "trainingRaceEpochs", "Race epochs", "Epochs of each entrant.")
        self.epochs_spin.setValue(10)
        row.addWidget(self.epochs_spin)
        self.layout_.addLayout(row)
        self.layout_.addLayout(self.controls)

        self.plot = self.add_plot("trainingRacePlot", "Validation accuracy of each entrant", "epoch",
                                  "validation accuracy")
        item = self.plot.getPlotItem()
        item.setYRange(0, 1, padding=0.02)
        # Bottom right, in two columns: validation accuracies climb to the top, where a legend would hide them.
        self.legend = item.addLegend(offset=(-10, -10), labelTextSize="8pt", verSpacing=-6, colCount=2)
        self.curves: list[pg.PlotDataItem] = []

        self.table = named(QTableWidget(0, len(COLUMNS)), "trainingRaceTable", "Race results")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(200)
        self.table.itemSelectionChanged.connect(self._update_use_button)
        self.table.hide()
        self.layout_.addWidget(self.table)
        self.use_button = named(QPushButton("Use this one"), "trainingRaceUseButton",
                                "Use the selected entrant's optimizer and learning rate")
        self.use_button.clicked.connect(self.use_selected)
        self.use_button.hide()
        self.layout_.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)

    # -- what to race ------------------------------------------------------------------------------

    def chosen(self) -> tuple[list[str], list[float] | None]:
        """(optimizers, learning rates or None for the project's); ValueError for a bad LR list."""
        names = [name for name, check in self.optimizer_checks.items() if check.isChecked()]
        text = self.lrs_edit.text().replace(";", ",").strip()
        rates = [float(part) for part in text.split(",") if part.strip()] if text else None
        return names, rates

    @Slot()
    def start(self) -> Task | None:
        from tlstudio.tools.race import EntrantResult, RaceError, entrants_for

        reason = self.blocker()
        if reason is not None:
            self.set_status(f"Cannot race now: {reason}", "error")
            return None
        if self.running is not None:
            return self.running
        snapshot = self._project.snapshot()
        try:
            names, rates = self.chosen()
            entrants = entrants_for(snapshot, names, rates)
        except RaceError as error:
            self.set_status(str(error)[:1].upper() + str(error)[1:], "error")
            return None
        except ValueError:
            self.set_status("Learning rates: give numbers separated by commas, e.g. 1e-3, 1e-2.", "error")
            return None
        epochs = self.epochs_spin.value()
        self._results = [EntrantResult(entrant) for entrant in entrants]
        self._prepare_views(entrants, epochs)
        results = self._results

        def work(context: TaskContext, token: StopToken):
            from tlstudio.tools.race import run_race

            total = len(entrants) * epochs
            progress = _RaceProgress(context)

            def on_epoch(index: int, event) -> None:
                progress.done = index * epochs + min(event.epoch, epochs)
                context.progress(progress.done, total)

            return run_race(snapshot, entrants, epochs=epochs, observer=progress, stop_token=token,
                            on_epoch=on_epoch, results=results)

        return self.submit("optimizer race", work)

    @Slot()
    def use_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.result is None:
            return
        entrant = self._results[rows[0].row()].entrant
        self._project.update({"optimizer.name": entrant.optimizer, "optimizer.learning_rate": entrant.learning_rate})
        self.set_status(f"Now training with {OPTIMIZERS.label_of(entrant.optimizer)} at LR "
                         f"{entrant.learning_rate:g}.", "ready")

    # -- drawing -----------------------------------------------------------------------------------

    def _prepare_views(self, entrants, epochs: int) -> None:
        for curve in self.curves:
            self.plot.removeItem(curve)
        self.legend.clear()
        self.curves = []
        for index, entrant in enumerate(entrants):
            color = RACE_COLORS[index % len(RACE_COLORS)]
            self.curves.append(self.plot.plot(pen=pg.mkPen(color, width=2), symbol="o", symbolSize=4,
                                              symbolBrush=color, symbolPen=None, name=entrant.label))
        self.plot.getPlotItem().setXRange(1, max(epochs, 2), padding=0.02)
        self.plot.show()
        self.table.setRowCount(0)
        self.table.hide()
        self.use_button.hide()
        self.result = None

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        from tlstudio.tools.race import results_lock

        super()._on_progress(done, total)
        with results_lock:
            histories = [list(result.history) for result in self._results]
        for curve, history in zip(self.curves, histories, strict=True):
            if history:
                curve.setData(np.array([row["epoch"] for row in history], float),
                              np.array([row["val_accuracy"] for row in history], float))

    @Slot(object)
    def _on_result(self, race) -> None:
        self.result = race
        self._on_progress(self.progress.maximum(), self.progress.maximum())
        winner = race.winner
        self.table.setRowCount(len(race.entrants))
        for row, entrant_result in enumerate(race.entrants):
            entrant = entrant_result.entrant
            accuracy, loss = entrant_result.val_accuracy, entrant_result.val_loss
            values = (OPTIMIZERS.label_of(entrant.optimizer), f"{entrant.learning_rate:g}",
                      f"{accuracy:.1%}" if accuracy is not None else "–",
                      f"{loss:.4f}" if loss is not None and math.isfinite(loss) else "–",
                      str(entrant_result.best_epoch or "–"), f"{entrant_result.seconds:.1f} s")
            for column, value in enumerate(values):
                item = QTableWidgetItem(value + (" ★" if column == 0 and entrant_result is winner else ""))
                if entrant_result.status == "FAILED":
                    item.setToolTip(entrant_result.message)
                self.table.setItem(row, column, item)
        self.table.show()
        self.use_button.show()
        if winner is not None:
            self.table.selectRow(race.entrants.index(winner))
            self.set_status(f"Best: {winner.entrant.label} ({winner.val_accuracy:.1%}); {len(race.entrants)} "
                             f"entrants in {race.seconds:.1f} s.", "ready")
        else:
            self.set_status("No entrant finished.", "error")
        self._update_use_button()

    @Slot()
    def _update_use_button(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.use_button.setEnabled(bool(rows) and self.result is not None)
        if rows and self.result is not None:
            self.use_button.setText(f"Use {self._results[rows[0].row()].entrant.label}")
