"""Find layout faults a person would see, from the widgets' geometry and size hints.

`layout_problems(window)` walks the visible widgets and returns one sentence per fault: a label
whose text does not fit (cut off, or shown elided with "…"), a table whose first column is too
narrow for its header, a widget squeezed below its minimum size hint, and two visible siblings of
one layout that overlap. The GUI tests call it at small window sizes and scales; the screenshots
script prints it for every page it renders.
"""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QComboBox,
    QGroupBox,
    QLabel,
    QLayout,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QSplitterHandle,
    QStackedWidget,
    QTableView,
    QToolBar,
    QWidget,
)

ELLIPSIS = "…"
# Widgets that manage their children themselves (scroll bars, views, pyqtgraph, spin boxes); their
# insides are not laid out by the app.
_OPAQUE = (QAbstractScrollArea, QComboBox, QMenu, QToolBar)


def _name(widget: QWidget) -> str:
    label = widget.objectName() or widget.accessibleName()
    if not label and isinstance(widget, QLabel | QGroupBox):
        label = repr((widget.text() if isinstance(widget, QLabel) else widget.title())[:40])
    parent = widget.parentWidget()
    while not label and parent is not None:  # name it after the nearest named ancestor
        if parent.objectName():
            label = f"{type(widget).__name__} in {parent.objectName()}"
        parent = parent.parentWidget()
    return f"{type(widget).__name__} {label or '(unnamed)'}"


def _really_visible(widget: QWidget, root: QWidget) -> bool:
    return widget.isVisibleTo(root) and widget.width() > 0 and widget.height() > 0


def _scroll_problem(area: QScrollArea) -> str | None:
    """A page that needs a horizontal scroll bar (or would be cut off at the right) at this width."""
    content = area.widget()
    if content is None or not area.widgetResizable():
        return None
    if content.width() > area.viewport().width() + 1:
        return (f"{_name(area)} is {area.viewport().width()} px wide but its content needs "
                f"{content.width()} px (scrolls or is cut off sideways)")
    return None


def label_problem(label: QLabel) -> str | None:
    text = label.text()
    if not text or label.pixmap() is not None and not label.pixmap().isNull():
        return None
    if ELLIPSIS in text and label.toolTip() and ELLIPSIS not in label.toolTip():
        return f"{_name(label)} shows its text elided: {text!r}"
    if label.wordWrap():
        # Qt's height for wrapped text counts the last line's descent as well; losing no more than
        # that cuts no letter (vertically centred text loses half of it at each edge).
        needed = label.heightForWidth(label.width()) - label.fontMetrics().descent()
        if needed > label.height() + 1:
            return f"{_name(label)} is {label.height()} px tall but its wrapped text needs {needed} px"
        return None
    hint = label.minimumSizeHint()
    if label.width() + 1 < hint.width():
        return f"{_name(label)} is {label.width()} px wide but its text needs {hint.width()} px: {text[:60]!r}"
    if label.height() + 1 < hint.height():
        return f"{_name(label)} is {label.height()} px tall but its text needs {hint.height()} px"
    return None


def _squeezed(widget: QWidget) -> str | None:
    """A group box or label smaller than the layout would ever make it: its parent ran out of room."""
    if not isinstance(widget, QGroupBox | QLabel):
        return None
    hint, minimum, policy = widget.minimumSizeHint(), widget.minimumSize(), widget.sizePolicy()
    ignored = QSizePolicy.Policy.Ignored
    need_w = minimum.width() or (0 if policy.horizontalPolicy() == ignored else hint.width())
    need_h = minimum.height() or (0 if policy.verticalPolicy() == ignored else hint.height())
    if isinstance(widget, QGroupBox) and widget.hasHeightForWidth() and not minimum.height():
        # Wrapped text inside: Qt's minimum is an estimate; what counts is that no child is cut off.
        bottom = widget.contentsRect().bottom() + 1
        for child in widget.findChildren(QWidget, options=_direct()):
            if child.isVisibleTo(widget) and child.geometry().bottom() + 1 > bottom + 1:
                return (f"{_name(widget)} is {widget.height()} px tall and cuts off {_name(child)} "
                        f"({child.geometry().bottom() + 1 - bottom} px)")
        need_h = 0
    if isinstance(widget, QLabel) and widget.wordWrap():
        need_w = minimum.width()  # a wrapped label asks for height instead (label_problem)
    if widget.width() + 1 < need_w or widget.height() + 1 < need_h:
        return (f"{_name(widget)} is squeezed to {widget.width()}×{widget.height()} px, below the "
                f"{need_w}×{need_h} px its contents need")
    return None


def _table_problem(view: QTableView) -> str | None:
    """The first column (the name of each row) narrower than its header or its longest cell."""
    header = view.horizontalHeader()
    if header.isHidden() or view.model() is None or view.model().columnCount() == 0:
        return None
    first = header.logicalIndex(0)
    if header.isSectionHidden(first):
        return None
    width = header.sectionSize(first)
    needed = max(header.sectionSizeFromContents(first).width(), view.sizeHintForColumn(first))
    if width + 1 < needed:
        return f"{_name(view)}'s first column is {width} px wide, its names need {needed} px (shown with …)"
    return None


def _overlaps(parent: QWidget, root: QWidget) -> list[str]:
    if isinstance(parent, QStackedWidget) or parent.layout() is None:
        return []
    children = [child for child in parent.findChildren(QWidget, options=_direct())
                if _really_visible(child, root) and not child.isWindow()
                and not isinstance(child, QSplitterHandle)
                and _laid_out_in(parent.layout(), child)]
    problems = []
    for i, first in enumerate(children):
        for second in children[i + 1:]:
            overlap: QRect = first.geometry().intersected(second.geometry())
            if overlap.width() > 1 and overlap.height() > 1:
                problems.append(f"{_name(first)} and {_name(second)} overlap by "
                                f"{overlap.width()}×{overlap.height()} px")
    return problems


def _laid_out_in(layout: QLayout, widget: QWidget) -> bool:
    """Whether `widget` is placed by `layout` or one of the layouts nested in it."""
    if layout.indexOf(widget) >= 0:
        return True
    for i in range(layout.count()):
        inner = layout.itemAt(i).layout()
        if inner is not None and _laid_out_in(inner, widget):
            return True
    return False


def _direct():
    from PySide6.QtCore import Qt

    return Qt.FindChildOption.FindDirectChildrenOnly


def layout_problems(root: QWidget) -> list[str]:
    """Every fault found under `root` (visible widgets only), one sentence each."""
    problems: list[str] = []
    stack = [root]
    while stack:
        widget = stack.pop()
        if isinstance(widget, QLabel):
            problem = label_problem(widget)
            if problem:
                problems.append(problem)
        if isinstance(widget, QTableView):
            problem = _table_problem(widget)
            if problem:
                problems.append(problem)
        problem = _squeezed(widget) if widget is not root else None
        if problem:
            problems.append(problem)
        if isinstance(widget, QScrollArea):
            problem = _scroll_problem(widget)
            if problem:
                problems.append(problem)
        problems.extend(_overlaps(widget, root))
        if isinstance(widget, _OPAQUE) and not isinstance(widget, QScrollArea):
            continue
        if isinstance(widget, QAbstractItemView):
            continue
        stack.extend(child for child in widget.findChildren(QWidget, options=_direct())
                     if _really_visible(child, root) and not child.isWindow())
    return problems
