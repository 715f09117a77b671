"""Live training plots and the learning-rate preview (pyqtgraph).

Curves are created once and fed with `setData`; nothing is cleared and replotted. The x axis
is the epoch (fractional for steps), shared by all three plots, so a step's loss, its learning
rate and the epoch's validation numbers line up vertically.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from tlstudio.gui.widgets.plot_look import EmptyHint, follow_palette, plot_colours
from tlstudio.train.events import BatchEnd, EpochEnd, PhaseBegin, TrainBegin

SMOOTHING = 0.9  # exponential moving average of the step loss: light, lags a few steps

TRAIN_COLOR = "#1f6fb4"
TRAIN_RAW_COLOR = (31, 111, 180, 70)
VAL_COLOR = "#e2730b"
LR_COLOR = "#2a9d4b"
PHASE_COLOR = "#7b4fbf"
OVERLAY_COLORS = ("#8c8c8c", "#b07aa1", "#9c755f", "#76b7b2", "#edc948")


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(antialias=True, background="w", foreground="#3c3c3c")


configure_pyqtgraph()


def _styled_plot(title: str, left: str, object_name: str, bottom: str | None = "epoch") -> pg.PlotWidget:
    widget = pg.PlotWidget()
    widget.setObjectName(object_name)
    widget.setAccessibleName(title)
    widget.setMinimumHeight(130)
    item = widget.getPlotItem()
    item.setTitle(title, size="10pt")
    item.setLabel("left", left)
    if bottom:
        item.setLabel("bottom", bottom)
    for name in ("left", "bottom"):
        item.getAxis(name).enableAutoSIPrefix(False)
    item.getAxis("left").setWidth(62)
    item.showGrid(x=True, y=True, alpha=0.15)
    for name in ("left", "bottom"):
        # Replaying an axis's tick labels cost ~2 ms a paint, and every new batch repaints the view:
        # keep each axis as a pixmap until its range really changes.
        item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    item.setMenuEnabled(False)
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    return widget


def _finite_positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)


@dataclass
class _Series:
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def clear(self) -> None:
        self.x.clear()
        self.y.clear()

    def append(self, x: float, y: float) -> None:
        self.x.append(x)
        self.y.append(y)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)


@dataclass
class RunCurves:
    """Everything one run draws, in plot coordinates; also built from an earlier run's files."""

    step_x: np.ndarray
    step_loss: np.ndarray
    step_lr: np.ndarray
    epoch_x: np.ndarray
    val_loss: np.ndarray
    accuracy: np.ndarray
    val_accuracy: np.ndarray
    step_loss_raw: np.ndarray = field(default_factory=lambda: np.zeros(0))  # each step's own loss

    @classmethod
    def from_files(cls, history: Sequence[dict], steps: Sequence[dict]) -> RunCurves:
        """From history.csv and steps.csv rows (values may still be strings)."""
        def column(rows: Sequence[dict], key: str) -> np.ndarray:
            out = []
            for row in rows:
                try:
                    out.append(float(row.get(key, "nan")))
                except (TypeError, ValueError):
                    out.append(float("nan"))
            return np.asarray(out, dtype=float)

        step_epoch = column(steps, "epoch")
        step_x = np.zeros_like(step_epoch)
        for epoch in np.unique(step_epoch[np.isfinite(step_epoch)]):
            where = np.flatnonzero(step_epoch == epoch)
            step_x[where] = (epoch - 1) + (np.arange(len(where)) + 1) / len(where)
        raw = column(steps, "loss")
        return cls(step_x=step_x, step_loss=smooth(raw), step_loss_raw=raw, step_lr=column(steps, "lr"),
                   epoch_x=column(history, "epoch"), val_loss=column(history, "val_loss"),
                   accuracy=column(history, "accuracy"), val_accuracy=column(history, "val_accuracy"))


def smooth(values: Iterable[float], factor: float = SMOOTHING) -> np.ndarray:
    """Debiased exponential moving average, as TensorBoard draws it."""
    out = []
    average = 0.0
    weight = 0.0
    for value in values:
        if np.isfinite(value):
            average = factor * average + (1 - factor) * value
            weight = factor * weight + (1 - factor)
        out.append(average / weight if weight else np.nan)
    return np.asarray(out, dtype=float)


def fit_y_range(plot: pg.PlotWidget, min_span: float = 0.0, sticky: bool = True) -> None:
    """Keep every curve in view with a margin. `sticky`: move the range only when a curve leaves it or
    fills less than half of it (a run's loss falls a little with every batch; its axis moves rarely,
    and each move redraws axis and grid: docs/stack-notes.md #18). `min_span`, in view units (decades on
    a log axis): 2 keeps a log axis to labelled decades instead of overlapping labels of 2x, 3x, ... 9x
    (#19)."""
    view = plot.getPlotItem().getViewBox()
    bounds = view.childrenBounds()[1]  # in view coordinates (log10 on a log axis)
    if bounds is None or not all(np.isfinite(bounds)):
        return
    low, high = float(bounds[0]), float(bounds[1])
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    span = max(high - low, abs(high) * 0.05, 1e-6)
    shown_low, shown_high = view.viewRange()[1]
    inside = shown_low <= low and high <= shown_high
    if sticky and inside and (high - low) >= 0.5 * (shown_high - shown_low):
        return
    view.setYRange(low - 0.1 * span, high + 0.1 * span, padding=0)


class TrainingPlots(QWidget):
    """Loss, accuracy and learning rate of the current run, plus overlays of earlier runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.loss_plot = _styled_plot("Loss", "loss", "runLossPlot", bottom=None)
        self.accuracy_plot = _styled_plot("Accuracy", "accuracy", "runAccuracyPlot", bottom=None)
        self.lr_plot = _styled_plot("Learning rate", "learning rate", "runLearningRatePlot")
        self.lr_plot.getPlotItem().setLogMode(y=True)
        self.accuracy_plot.getPlotItem().setYRange(0, 1, padding=0.02)
        for plot in (self.loss_plot, self.lr_plot):
            # The y range follows the data by hand (`fit_y_range`), not by pyqtgraph's auto-range: that moves
            # it on every batch, and each move redraws the axis and grid (~2-10 ms of the GUI thread).
            plot.getPlotItem().enableAutoRange(y=False)
        for plot in (self.accuracy_plot, self.lr_plot):
            plot.setXLink(self.loss_plot)
        self.loss_plot.getPlotItem().setXRange(0, 1, padding=0.02)
        for plot, stretch in ((self.loss_plot, 3), (self.accuracy_plot, 2), (self.lr_plot, 2)):
            layout.addWidget(plot, stretch)
        self._create_curves()
        self.phase_markers = [self._phase_marker(plot) for plot in self.plots]
        for plot in self.plots:
            follow_palette(plot, self._recolour_markers)
        self.empty_hints = {
            self.loss_plot: EmptyHint(self.loss_plot, "The loss of each training step appears here once a run "
                                      "starts, or tick an earlier run to see its curves."),
            self.accuracy_plot: EmptyHint(self.accuracy_plot, "Accuracy on the training and validation images, "
                                          "after each epoch."),
            self.lr_plot: EmptyHint(self.lr_plot, "The learning rate of each step."),
        }
        self._raw_loss = _Series()
        self._smoothed_loss = _Series()
        self._lr = _Series()
        self._val_loss = _Series()
        self._accuracy = _Series()
        self._val_accuracy = _Series()
        self._average = 0.0
        self._weight = 0.0
        self._overlays: dict[str, list[pg.PlotDataItem]] = {}

    @property
    def plots(self) -> tuple[pg.PlotWidget, pg.PlotWidget, pg.PlotWidget]:
        return self.loss_plot, self.accuracy_plot, self.lr_plot

    def _create_curves(self) -> None:
        """The live run's curves and the legends that name them, created once and fed with setData."""
        self._legends = [plot.getPlotItem().addLegend(offset=offset, labelTextSize="8pt", verSpacing=-6)
                         for plot, offset in ((self.loss_plot, (-10, 10)), (self.accuracy_plot, (-10, -10)))]

        def dotted(plot: pg.PlotWidget, color: str, name: str) -> pg.PlotDataItem:
            return plot.plot(pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6, symbolBrush=color,
                             symbolPen=None, name=name)

        self.raw_loss_curve = self.loss_plot.plot(pen=pg.mkPen(TRAIN_RAW_COLOR, width=1))
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="train (smoothed)")
        self.val_loss_curve = dotted(self.loss_plot, VAL_COLOR, "validation")
        self.accuracy_curve = dotted(self.accuracy_plot, TRAIN_COLOR, "train")
        self.val_accuracy_curve = dotted(self.accuracy_plot, VAL_COLOR, "validation")
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen(LR_COLOR, width=2))

    def _phase_marker(self, plot: pg.PlotWidget) -> pg.InfiniteLine:
        """The dashed line where phase 2 (fine-tuning) begins; named on the learning-rate plot only."""
        label = "phase 2: fine-tuning" if plot is self.lr_plot else None
        marker = pg.InfiniteLine(angle=90, movable=False, label=label,
                                 labelOpts={"position": 0.92, "color": PHASE_COLOR, "anchors": [(0, 0), (0, 0)],
                                            "fill": pg.mkBrush(255, 255, 255, 215)},
                                 pen=pg.mkPen(PHASE_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        marker.setVisible(False)
        plot.addItem(marker, ignoreBounds=True)
        return marker

    # -- the current run -------------------------------------------------------------------------

    def reset(self) -> None:
        for series in (self._raw_loss, self._smoothed_loss, self._lr, self._val_loss, self._accuracy,
                       self._val_accuracy):
            series.clear()
        self._average = self._weight = 0.0
        for marker in self.phase_markers:
            marker.setVisible(False)
        self._redraw_steps()
        self._redraw_epochs()

    def begin(self, event: TrainBegin) -> None:
        self.reset()
        self.loss_plot.getPlotItem().setXRange(0, max(1, event.epochs), padding=0.02)

    def add_batches(self, events: Sequence[BatchEnd]) -> None:
        for event in events:
            x = (event.epoch - 1) + event.batch / max(1, event.steps_in_epoch)
            self._raw_loss.append(x, event.loss)
            if np.isfinite(event.loss):
                self._average = SMOOTHING * self._average + (1 - SMOOTHING) * event.loss
                self._weight = SMOOTHING * self._weight + (1 - SMOOTHING)
            self._smoothed_loss.append(x, self._average / self._weight if self._weight else np.nan)
            self._lr.append(x, event.learning_rate)
        if events:
            self._redraw_steps()

    def add_curves(self, curves: RunCurves) -> None:
        """Draw a resumed run's earlier epochs as the start of the live curves."""
        for x, loss, lr in zip(curves.step_x, curves.step_loss_raw, curves.step_lr, strict=True):
            self._raw_loss.append(x, loss)
            if np.isfinite(loss):
                self._average = SMOOTHING * self._average + (1 - SMOOTHING) * loss
                self._weight = SMOOTHING * self._weight + (1 - SMOOTHING)
            self._smoothed_loss.append(x, self._average / self._weight if self._weight else np.nan)
            self._lr.append(x, lr)
        for epoch, val_loss, accuracy, val_accuracy in zip(curves.epoch_x, curves.val_loss, curves.accuracy,
                                                           curves.val_accuracy, strict=True):
            self._val_loss.append(epoch, val_loss)
            self._accuracy.append(epoch, accuracy)
            self._val_accuracy.append(epoch, val_accuracy)
        self._redraw_steps()
        self._redraw_epochs()

    def add_epoch(self, event: EpochEnd) -> None:
        self._val_loss.append(event.epoch, event.val_loss)
        self._accuracy.append(event.epoch, event.accuracy)
        self._val_accuracy.append(event.epoch, event.val_accuracy)
        self._redraw_epochs()

    def mark_phase(self, event: PhaseBegin) -> None:
        if event.phase < 2:
            return
        for marker in self.phase_markers:
            marker.setValue(event.first_epoch - 1)
            marker.setVisible(True)

    def point_counts(self) -> dict[str, int]:
        """How many points each live curve holds (for tests and the status line)."""
        return {"loss": len(self._raw_loss.x), "val_loss": len(self._val_loss.x),
                "accuracy": len(self._accuracy.x), "val_accuracy": len(self._val_accuracy.x),
                "learning_rate": len(self._lr.x)}

    def _redraw_steps(self) -> None:
        x, raw = self._raw_loss.arrays()
        self.raw_loss_curve.setData(x, raw, connect="finite")
        self.loss_curve.setData(*self._smoothed_loss.arrays(), connect="finite")
        lr_x, lr = self._lr.arrays()
        self.lr_curve.setData(lr_x, _finite_positive(lr), connect="finite")
        fit_y_range(self.loss_plot)
        fit_y_range(self.lr_plot, min_span=2.0)
        self._update_empty()

    def _redraw_epochs(self) -> None:
        self.val_loss_curve.setData(*self._val_loss.arrays(), connect="finite")
        self.accuracy_curve.setData(*self._accuracy.arrays(), connect="finite")
        self.val_accuracy_curve.setData(*self._val_accuracy.arrays(), connect="finite")
        fit_y_range(self.loss_plot)
        self._update_empty()

    def _update_empty(self) -> None:
        overlaid = bool(self._overlays)
        self.empty_hints[self.loss_plot].set_empty(not (overlaid or self._raw_loss.x or self._val_loss.x))
        self.empty_hints[self.accuracy_plot].set_empty(not (overlaid or self._accuracy.x or self._val_accuracy.x))
        self.empty_hints[self.lr_plot].set_empty(not (overlaid or self._lr.x))

    def _recolour_markers(self, dark: bool) -> None:
        fill = pg.mkBrush(plot_colours(dark)["legend"])
        for marker in getattr(self, "phase_markers", []):
            label = getattr(marker, "label", None)  # only the marker with a text has one
            if label is not None:
                label.fill = fill
                label.update()

    # -- earlier runs ------------------------------------------------------------------------------

    @property
    def overlay_keys(self) -> list[str]:
        return list(self._overlays)

    def set_overlay(self, key: str, label: str, curves: RunCurves) -> None:
        """Draw an earlier run's curves, dashed and muted, behind the current run."""
        self.remove_overlay(key)
        color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
        dashed = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
        items = [
            self.loss_plot.plot(curves.step_x, curves.step_loss, pen=dashed, connect="finite",
                                name=f"{label}"),
            self.loss_plot.plot(curves.epoch_x, curves.val_loss, pen=pg.mkPen(color, width=1),
                                symbol="t", symbolSize=6, symbolBrush=color, symbolPen=None, connect="finite"),
            self.accuracy_plot.plot(curves.epoch_x, curves.val_accuracy, pen=dashed, symbol="t",
                                    symbolSize=6, symbolBrush=color, symbolPen=None, connect="finite",
                                    name=f"{label} (val)"),
            self.lr_plot.plot(curves.step_x, _finite_positive(curves.step_lr), pen=dashed, connect="finite"),
        ]
        for item in items:
            item.setZValue(-10)
        self._overlays[key] = items
        fit_y_range(self.loss_plot)
        fit_y_range(self.lr_plot, min_span=2.0)
        self._update_empty()

    def remove_overlay(self, key: str) -> None:
        for item in self._overlays.pop(key, []):
            for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
                if item in plot.getPlotItem().items:
                    plot.getPlotItem().removeItem(item)
        fit_y_range(self.loss_plot)
        fit_y_range(self.lr_plot, min_span=2.0)
        self._update_empty()


class LearningRatePreview(pg.PlotWidget):
    """The planned learning rate per step, redrawn as the schedule settings change."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainingLearningRatePreview")
        self.setAccessibleName("Learning-rate schedule preview")
        self.setMinimumHeight(180)
        item = self.getPlotItem()
        item.setTitle("Planned learning rate", size="10pt")
        item.setLabel("left", "learning rate")
        item.setLabel("bottom", "epoch")
        for name in ("left", "bottom"):
            item.getAxis(name).enableAutoSIPrefix(False)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        item.setLogMode(y=True)
        self.curve = self.plot(pen=pg.mkPen(LR_COLOR, width=2))
        self.phase_marker = pg.InfiniteLine(angle=90, movable=False,
                                            pen=pg.mkPen(PHASE_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        self.phase_marker.setVisible(False)
        self.addItem(self.phase_marker, ignoreBounds=True)
        self.x = np.zeros(0)
        self.y = np.zeros(0)
        follow_palette(self)
        self.empty_hint = EmptyHint(self, "The planned learning rate of each step appears here.")

    def show_schedule(self, x_epochs: np.ndarray, learning_rates: np.ndarray,
                      phase_two_epoch: float | None = None) -> None:
        self.x = np.asarray(x_epochs, dtype=float)
        self.y = np.asarray(learning_rates, dtype=float)
        self.curve.setData(self.x, _finite_positive(self.y), connect="finite")
        self.empty_hint.set_empty(len(self.x) == 0)
        self.phase_marker.setVisible(phase_two_epoch is not None)
        if phase_two_epoch is not None:
            self.phase_marker.setValue(phase_two_epoch)
        self.getPlotItem().enableAutoRange(x=True, y=False)
        fit_y_range(self, min_span=2.0, sticky=False)
