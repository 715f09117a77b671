"""Offline backbones in the GUI: where weights come from, and the offline fix one click away."""

from __future__ import annotations

import pytest

from tlstudio.backbones.registry import BACKBONE_NAMES
from tlstudio.gui.panels.model_tables import WEIGHTS_COLUMN
from tlstudio.train.events import RunResult, RunStatus


@pytest.fixture(autouse=True)
def nothing_cached(monkeypatch, tmp_path):
    """An empty Keras cache and TL Studio cache, as on a machine that has never been online."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))


def weights_cell(page, name: str) -> str:
    return page.backbone_table.item(BACKBONE_NAMES.index(name), WEIGHTS_COLUMN).text()


def test_backbone_table_says_where_weights_come_from(window):
    page = window.model_page
    window.show_page("model")
    assert page.backbone_table.horizontalHeaderItem(WEIGHTS_COLUMN).text() == "Weights"
    assert weights_cell(page, "squeezenet1_1") == "shipped"
    assert weights_cell(page, "mobilenet_v2") == "↓ 9.4 MB"
    assert weights_cell(page, "efficientnet_lite0") in ("package", "pip extra")
    page.backbone_table.selectRow(BACKBONE_NAMES.index("squeezenet1_1"))
    assert "ship with TL Studio" in page.weights_status.text()
    assert page.weights_chooser.offline_buttons == []


def test_model_page_offers_offline_backbones_for_an_uncached_download(window):
    page = window.model_page
    window.show_page("model")
    page.backbone_table.selectRow(BACKBONE_NAMES.index("resnet50_v2"))
    page.imagenet_radio.setChecked(True)
    assert "will be downloaded" in page.weights_status.text()
    assert "works offline" in page.weights_status.text()
    labels = [button.text() for button in page.weights_chooser.offline_buttons]
    assert labels[0] == "Use SqueezeNet 1.1"
    page.weights_chooser.offline_buttons[0].click()
    model = window.project.project.model
    assert (model.backbone, model.weights, model.image_size) == ("squeezenet1_1", "imagenet", None)
    assert page.weights_chooser.offline_buttons == [] and "ship with TL Studio" in page.weights_status.text()


def test_failed_download_offers_the_offline_backbones_in_the_message(window):
    window.project.update({"model.backbone": "mobilenet_v2", "model.weights": "ImageNet"})
    window._on_training_finished(RunResult(
        RunStatus.FAILED, "Could not download the ImageNet weights for MobileNetV2 (no network?): …", None))
    bar = window.message_bar
    assert bar.isVisible() and bar.text.startswith("Training failed: Could not download")
    buttons = bar.action_buttons
    assert buttons and buttons[0].text() == "Use SqueezeNet 1.1"
    buttons[0].click()
    assert window.project.project.model.backbone == "squeezenet1_1"
    assert bar.isVisible() and "SqueezeNet 1.1" in bar.text and bar.level == "info"


def test_other_failures_offer_no_backbone(window):
    window.project.update({"model.backbone": "squeezenet1_1"})
    window._on_training_finished(RunResult(RunStatus.FAILED, "the disk is full", None))
    assert window.message_bar.action_buttons == []


def test_weights_keyword_in_any_case_does_not_block_train(window, tmp_path):
    from tlstudio.data.demo import make_demo_dataset

    window.open_folder(make_demo_dataset(tmp_path / "shapes", per_class=6, size=32))
    window.project.update({"model.weights": "ImageNet"})
    assert window.project.project.model.weights == "imagenet"
    assert "does not exist" not in (window.train_blocker() or "")
