"""Small reusable widgets (a log-scale spin box, a message bar, a collapsible section) and the helpers every
page uses: named controls, status lines styled by their role, and one background task at a time with the
progress bar that shows it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QPixmap, QResizeEvent, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.gui.background import Task, TaskContext, TaskRunner
from tlstudio.gui.widgets.responsive import Columns


def named(widget, object_name: str, accessible_name: str, tooltip: str | None = None):
    """Give a control the objectName tests find it by and the name a screen reader says."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible_name)
    if tooltip:
        widget.setToolTip(tooltip)
        widget.setAccessibleDescription(tooltip)
    return widget


def commit_on_enter(spin: QAbstractSpinBox) -> QAbstractSpinBox:
    """Commit values on Enter / focus-out, so half-typed numbers are never validated."""
    spin.setKeyboardTracking(False)
    spin.setAccelerated(True)
    return spin


def int_spin(minimum: int, maximum: int, *, suffix: str = "", special: str | None = None) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(minimum, maximum)
    if suffix:
        spin.setSuffix(suffix)
    if special:
        spin.setSpecialValueText(special)
    commit_on_enter(spin)
    return spin


def float_spin(minimum: float, maximum: float, *, step: float = 0.05, decimals: int = 2,
               suffix: str = "") -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(minimum, maximum)
    spin.setDecimals(decimals)
    spin.setSingleStep(step)
    if suffix:
        spin.setSuffix(suffix)
    commit_on_enter(spin)
    return spin


def text_label(object_name: str, text: str = "", *, role: str = "", selectable: bool = False,
               hidden: bool = False) -> QLabel:
    """A word-wrapped label that tests find by `object_name`, styled by `role` (see `restyle`);
    `selectable` lets the user copy a message or a path out of it."""
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    if role:
        label.setProperty("role", role)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(not hidden)
    return label


def restyle(widget: QWidget, **properties: object) -> None:
    """Set the dynamic properties the style sheet selects on (`role`, `level`) and apply them: Qt
    re-evaluates a style sheet's property selectors only when the widget is polished again."""
    for name, value in properties.items():
        widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


def set_status(label: QLabel, text: str, role: str = "") -> None:
    """Show `text` in a status line, coloured by `role`: "" (plain), "error", "ready", "blocked", "hint"."""
    label.setText(text)
    restyle(label, role=role)


def hint_label(text: str = "", *, word_wrap: bool = True) -> QLabel:
    """A secondary, smaller grey label for explanations under a control."""
    label = QLabel(text)
    label.setWordWrap(word_wrap)
    label.setProperty("role", "hint")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def format_count(value: float) -> str:
    """12 345 678 -> '12.3 M', 4 321 -> '4,321'."""
    if value >= 1e6:
        return f"{value / 1e6:.1f} M"
    return f"{int(value):,}"


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LogSpinBox(QDoubleSpinBox):
    """A spin box for rates such as 3e-4: shows short %g text and steps along 1-2-5 per decade."""

    _MANTISSAS = (1.0, 2.0, 5.0)

    def __init__(self, minimum: float = 1e-7, maximum: float = 10.0, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(minimum, maximum)
        commit_on_enter(self)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.strip().replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D401
        stripped = text.strip().replace(",", ".")
        if not stripped:
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(stripped)
        except ValueError:
            if all(ch in "0123456789.eE+-" for ch in stripped):
                return QValidator.State.Intermediate, text, pos
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value()
        ladder_index = self._ladder_index(value)
        index = ladder_index + steps
        self.setValue(min(self.maximum(), max(self.minimum(), self._ladder_value(index))))

    def _ladder_index(self, value: float) -> int:
        exponent = math.floor(math.log10(value)) if value > 0 else -7
        mantissa = value / 10 ** exponent
        best = min(range(3), key=lambda i: abs(self._MANTISSAS[i] - mantissa))
        return exponent * 3 + best

    def _ladder_value(self, index: int) -> float:
        exponent, position = divmod(index, 3)
        return float(f"{self._MANTISSAS[position] * 10 ** exponent:.3g}")


class MessageBar(QFrame):
    """A non-modal strip at the top of the window: one clear message, with a close button."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._label.setObjectName("messageBarText")
        layout.addWidget(self._label, 1)
        self._actions_layout = QHBoxLayout()
        self._actions_layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._actions_layout)
        self._action_buttons: list[QPushButton] = []
        self._close = named(QToolButton(), "messageBarClose", "Dismiss message")
        self._close.setText("✕")
        self._close.setAutoRaise(True)
        self._close.clicked.connect(self.dismiss)
        layout.addWidget(self._close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.setAccessibleName("Message")
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text()

    @property
    def level(self) -> str:
        return str(self.property("level") or "")

    @property
    def action_buttons(self) -> list[QPushButton]:
        return list(self._action_buttons)

    def show_message(self, text: str, level: str = "error", timeout_ms: int = 0,
                     actions: Sequence[tuple[str, Callable[[], object]]] = ()) -> None:
        """Show `text`; level is 'error', 'warning' or 'info'. Info messages fade after a while.

        `actions` are (label, callback) buttons beside the text, e.g. the fix for the error, one
        click away; a click dismisses the message, then runs the callback (which may show another).
        """
        for button in self._action_buttons:
            self._actions_layout.removeWidget(button)
            button.deleteLater()
        self._action_buttons = []
        for label, callback in actions:
            button = named(QPushButton(label), f"messageBarAction{len(self._action_buttons)}", label)
            button.clicked.connect(lambda _=False, run=callback: (self.dismiss(), run()))
            self._actions_layout.addWidget(button)
            self._action_buttons.append(button)
        self._label.setText(text)
        restyle(self, level=level)
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    @Slot()
    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
        self.closed.emit()


class CollapsibleSection(QWidget):
    """A header button that shows or hides its content; used for lists users rarely need open."""

    toggled = Signal(bool)

    def __init__(self, title: str, content: QWidget, object_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.button = named(QToolButton(), object_name, title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.ArrowType.RightArrow)
        self.button.setAutoRaise(True)
        self.button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.button.toggled.connect(self._on_toggled)
        layout.addWidget(self.button)
        self.content = content
        layout.addWidget(content)
        content.setVisible(False)
        self.set_title(title)

    def set_title(self, title: str) -> None:
        self.button.setText(title)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        self.button.setChecked(expanded)

    @Slot(bool)
    def _on_toggled(self, expanded: bool) -> None:
        self.button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.content.setVisible(expanded)
        self.toggled.emit(expanded)


class ImageLabel(QLabel):
    """Shows one pixmap scaled to fit (aspect kept, smooth), between a minimum and a preferred size."""

    def __init__(self, preferred: int, minimum: int, parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmap = QPixmap()
        self._preferred = preferred
        self.setMinimumSize(minimum, minimum)
        self.setMaximumSize(preferred, preferred)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def sizeHint(self):  # noqa: N802
        return self.maximumSize()

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return width

    def set_image(self, pixmap: QPixmap) -> None:
        """Show `pixmap` (a null one clears the picture and shows the label's text)."""
        self._pixmap = pixmap
        self._rescale()

    @property
    def image(self) -> QPixmap:
        return self._pixmap

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            super().setPixmap(QPixmap())
            return
        ratio = self.devicePixelRatioF()  # drawn at the screen's pixels: sharp at 200 %
        scaled = self._pixmap.scaled(self.contentsRect().size() * ratio, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(ratio)
        super().setPixmap(scaled)


def two_columns(parent: QWidget, left_stretch: int = 1, right_stretch: int = 1) -> tuple[QVBoxLayout, QVBoxLayout]:
    """The pages' two-column body: (left, right) vertical layouts side by side in `parent`, one under
    the other when the page is too narrow for both (responsive.Columns)."""
    outer = QVBoxLayout(parent)
    outer.setContentsMargins(0, 0, 0, 0)
    columns = Columns((left_stretch, right_stretch))
    columns.setObjectName(f"{parent.objectName()}Columns")
    outer.addWidget(columns)
    return columns.halves[0], columns.halves[1]


def set_tab_chain(*widgets: QWidget) -> None:
    """Tab moves through `widgets` in the order given."""
    for first, second in zip(widgets, widgets[1:], strict=False):
        QWidget.setTabOrder(first, second)


def show_progress(bar, task, *, name_stage: bool = True) -> None:
    """Let a background task drive a progress bar: its (done, total) fill the bar (busy while total is 0)
    and, with `name_stage`, its stage names the bar ("decoding images 40 %")."""
    def on_progress(done: int, total: int) -> None:
        bar.setRange(0, max(0, total))
        bar.setValue(done)

    task.progressed.connect(on_progress)
    if name_stage:
        task.messaged.connect(lambda stage: bar.setFormat(f"{stage} %p %" if bar.maximum() else stage))


class TaskHolder(QObject):
    """The one background task a page or panel runs at a time, and the progress bar that shows it.

    `start` submits a function and wires what watches it: the bar (busy at once, then filled by the
    task's progress, hidden when it ends) and the handlers for its progress, stage, result, error and
    cancellation. The holder forgets the task before a handler runs, so a handler may start the next one
    (evaluate again after calibrating) and `busy` already reads False in it.
    """

    def __init__(self, runner: TaskRunner, progress: QProgressBar | None = None, *, name_stage: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._progress = progress
        self._name_stage = name_stage
        self._task: Task | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def task(self) -> Task | None:
        return self._task

    def start(self, name: str, work: Callable[[TaskContext], Any], *,
              succeeded: Callable[[Any], object] | None = None, failed: Callable[[str], object] | None = None,
              messaged: Callable[[str], object] | None = None, progressed: Callable[[int, int], object] | None = None,
              cancelled: Callable[[], object] | None = None, show_progress_bar: bool = True) -> Task:
        """Run `work(context)` in the background; a task still running is dropped (cancelled, unheard).
        Callers that must not interrupt one check `busy` first."""
        self.drop()
        task = self._task = self._runner.submit(name, work)
        if self._progress is not None and show_progress_bar:
            self._progress.setRange(0, 0)
            self._progress.show()
            show_progress(self._progress, task, name_stage=self._name_stage)
        if progressed is not None:
            task.progressed.connect(progressed)
        if messaged is not None:
            task.messaged.connect(messaged)
        task.succeeded.connect(lambda result: self._deliver(task, succeeded, result))
        task.failed.connect(lambda message: self._deliver(task, failed, message))
        # A cancelled task reports neither result nor error: its end is all that comes, and it is then
        # still the current task. After a result or an error it is not, and nothing more is delivered.
        task.finished.connect(lambda: self._deliver(task, cancelled))
        return task

    def cancel(self) -> None:
        """Ask the running task to stop; it stays `busy` until its function returns (then `cancelled` runs)."""
        if self._task is not None:
            self._task.cancel()

    def drop(self) -> None:
        """Cancel the running task and forget it at once: nothing it reports is heard any more."""
        if self._task is not None:
            self._task.cancel()
            self._end(self._task)

    def _deliver(self, task: Task, handler: Callable[..., object] | None, *args: Any) -> None:
        if self._end(task) and handler is not None:
            handler(*args)

    def _end(self, task: Task) -> bool:
        """Forget `task` if it is the current one (and hide the bar); False for one that ended or was dropped."""
        if task is not self._task:
            return False
        self._task = None
        if self._progress is not None:
            self._progress.hide()
        return True
