"""Dark mode: the View menu's choice (system, light, dark), remembered; the plots, the confusion matrix
and the probability bars follow the palette; "system" follows the desktop's colour scheme."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from tlstudio.gui.style import apply_style, is_dark
from tlstudio.gui.widgets.confusion import ConfusionMatrixModel
from tlstudio.gui.widgets.plot_look import plot_colours


@pytest.fixture(autouse=True)
def back_to_light():
    yield
    apply_style(QApplication.instance(), "system")


def plot_background(plot):
    return plot.backgroundBrush().color().name()


def test_view_menu_switches_dark_and_light_and_the_plots_follow(qtbot, window, make_window):
    run_plots = window.run_page.plots
    reliability = window.evaluate_page.reliability
    light = plot_colours(False)["background"].name()
    assert not is_dark() and plot_background(run_plots.loss_plot) == light

    window.scheme_actions["dark"].trigger()
    assert is_dark() and window.app_settings.color_scheme == "dark"
    dark = plot_colours(True)
    for plot in (run_plots.loss_plot, run_plots.accuracy_plot, run_plots.lr_plot,
                 window.training_page.lr_preview, reliability):
        assert plot_background(plot) == dark["background"].name(), plot.objectName()
    axis = run_plots.loss_plot.getPlotItem().getAxis("left")
    assert axis.textPen().color().name() == dark["foreground"].name()
    assert window.palette().color(QPalette.ColorRole.Window).lightness() < 60
    assert "#242930" in window.styleSheet() and "#fbfcfd" not in window.styleSheet()
    bar = window.try_page.bars.bars[0]
    assert bar.palette().color(QPalette.ColorRole.Text).lightness() > 180  # light text on the dark bars

    matrix = ConfusionMatrixModel()
    matrix.set_matrix(["a", "b"], np.array([[3, 0], [1, 2]]))
    empty = matrix.data(matrix.index(0, 1), Qt.ItemDataRole.BackgroundRole)
    assert empty.lightness() < 60  # an empty cell is the dark background, not a white hole

    # Remembered: the next window starts dark.
    second = make_window()
    assert second.scheme_actions["dark"].isChecked() and is_dark()

    window.set_color_scheme("light")
    assert not is_dark() and plot_background(run_plots.loss_plot) == light
    assert matrix.data(matrix.index(0, 1), Qt.ItemDataRole.BackgroundRole).lightness() > 230


def test_system_choice_follows_the_desktop(window, monkeypatch):
    """The offscreen platform cannot switch its colour scheme, so the desktop's answer is replaced and
    its change signal sent as the desktop would."""
    from tlstudio.gui import style

    app = QApplication.instance()
    window.set_color_scheme("system")
    assert not is_dark()
    monkeypatch.setattr(style, "system_is_dark", lambda _app: True)
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert is_dark()
    assert plot_background(window.run_page.plots.loss_plot) == plot_colours(True)["background"].name()
    window.set_color_scheme("light")  # a forced choice wins over the desktop
    assert not is_dark()
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not is_dark()


def test_empty_plots_show_a_hint_instead_of_bare_axes(window):
    plots = window.run_page.plots
    hint = plots.empty_hints[plots.lr_plot]
    assert hint.empty and "learning rate" in hint.text
    assert not plots.lr_plot.getPlotItem().getAxis("left").isVisible()
    from tlstudio.train.events import BatchEnd

    plots.add_batches([BatchEnd(step=1, epoch=1, batch=1, steps_in_epoch=4, loss=0.5, accuracy=0.5,
                                 learning_rate=1e-3, images_per_second=10.0, phase=1)])
    assert not hint.empty and plots.lr_plot.getPlotItem().getAxis("left").isVisible()
    plots.reset()
    assert hint.empty
