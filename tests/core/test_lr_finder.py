"""The LR range test: the sweep, both suggestions, the model left as it was, and the CLI's JSON."""

import json
import math

import numpy as np
import pytest

from tlstudio.settings.project import Project
from tlstudio.tools.lr_finder import LRFinderError, find_learning_rate, smooth, suggestions


def test_suggestions_from_a_textbook_curve():
    lrs = list(np.logspace(-6, 1, 80))
    # Flat, then falling fastest around 1e-3, lowest near 1e-1, then blowing up.
    x = np.log10(lrs)
    losses = list(2.0 - 1.5 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2 * 3, 0))
    suggested, minimum, steepest = suggestions(lrs, losses)
    assert 5e-4 < steepest < 2e-3 and suggested == steepest
    assert 3e-2 < minimum < 3e-1
    assert smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # debiased: no pull towards 0


def test_range_test_on_cached_features_suggests_a_sane_lr(demo_folder):
    project = Project().copy_with(**{"data.folder": str(demo_folder), "model.backbone": "squeezenet1_1",
                                     "model.weights": "imagenet", "model.image_size": 48,
                                     "training.batch_size": 8, "training.image_cache": False})
    result = find_learning_rate(project, steps=60)
    assert result.feature_cache
    assert 1e-5 <= result.suggested_lr <= 1
    assert len(result.learning_rates) == len(result.losses) == len(result.smoothed) >= 20
    assert all(b > a for a, b in zip(result.learning_rates, result.learning_rates[1:], strict=False))
    assert result.learning_rates[0] == pytest.approx(1e-7)
    data = result.to_dict()
    assert set(data) >= {"suggested_lr", "lr", "loss", "steepest_lr", "minimum_lr"}
    json.dumps(data)


def test_range_test_refuses_a_backwards_range(demo_folder):
    project = Project().copy_with(**{"data.folder": str(demo_folder)})
    with pytest.raises(LRFinderError, match="start LR < end LR"):
        find_learning_rate(project, start_lr=1.0, end_lr=1e-3)


def test_cli_lr_find_json(demo_folder, capsys):
    from tlstudio.cli import main

    code = main(["lr-find", "--data", str(demo_folder), "--backbone", "squeezenet1_1", "--weights", "imagenet",
                 "--freeze", "all", "--image-size", "48", "--batch-size", "8", "--steps", "40", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert 1e-5 <= data["suggested_lr"] <= 1 and len(data["lr"]) == len(data["loss"])
    assert all(math.isfinite(v) for v in data["loss"])
