"""The one leave-out rule of ensembles: a weak member is left out, yet an average always keeps two or more,
for an ensemble of runs and for a run's snapshot ensemble alike."""

import json

import numpy as np
import pytest

from tlstudio.model.averaging import LEAVE_OUT_BELOW_BEST, choose_members


def test_a_member_far_below_the_best_is_left_out_with_the_reason():
    assert choose_members([0.90, 0.88, 0.50]) == [(True, ""), (True, ""), (False, "40.0 points below the best member")]
    assert choose_members([0.90, 0.90 - LEAVE_OUT_BELOW_BEST]) == [(True, ""), (True, "")]  # the limit itself stays


def test_an_average_never_shrinks_to_one_member():
    assert choose_members([0.90, 0.50]) == [(True, ""), (True, "")]
    assert choose_members([0.30, 0.95, 0.10], member="snapshot") == [(True, "")] * 3


def _snapshot_model(bias: float):
    """A tiny classifier with the layer names a built model has, whose answers depend on `bias`."""
    import keras

    from tlstudio.model.build import OUTPUT_LAYER, POOL_LAYER

    inputs = keras.Input((8, 8, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(inputs)
    head = keras.layers.Dense(2, activation="softmax", name=OUTPUT_LAYER)
    model = keras.Model(inputs, head(pooled))
    head.set_weights([np.full((3, 2), 0.01), np.array([bias, -bias])])
    return model


@pytest.mark.parametrize("accuracies", [(0.90, 0.50), (0.95, 0.60, 0.40)])
def test_a_snapshot_ensemble_never_averages_a_single_snapshot(tmp_path, accuracies):
    from tlstudio.runs.folder import SNAPSHOTS_FOLDER
    from tlstudio.settings.project import ScheduleSettings
    from tlstudio.train.events import Observer
    from tlstudio.train.snapshots import LIST_FILE, Snapshots

    folder = tmp_path / SNAPSHOTS_FOLDER
    folder.mkdir()
    listed, models = [], []
    for epoch, accuracy in enumerate(accuracies, start=1):
        models.append(_snapshot_model(bias=float(epoch)))
        models[-1].save(folder / f"epoch-{epoch}.keras")
        listed.append({"epoch": epoch, "file": f"epoch-{epoch}.keras", "val_accuracy": accuracy, "val_loss": 1.0})
    (folder / LIST_FILE).write_text(json.dumps(listed))

    saved = []
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(np.float32)
    probabilities, described = Snapshots(tmp_path, ScheduleSettings(), Observer()).ensemble(
        len(accuracies), images, 2, saved.append)
    assert [member["included"] for member in described["members"]] == [True] * len(accuracies)
    expected = np.mean([model.predict_on_batch(images) for model in models], axis=0)
    np.testing.assert_allclose(saved[0].predict_on_batch(images), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
