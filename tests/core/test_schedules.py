"""LR schedules: each formula by hand, warm-up, numpy preview == in-graph value, restarts, plateau."""

import math

import numpy as np
import pytest

from tlstudio.model.schedules import lr_at, preview
from tlstudio.settings.project import ScheduleSettings

BASE = 0.1
SPE = 10  # steps per epoch
TOTAL = 200


def lr(settings: ScheduleSettings, step: int, total: int = TOTAL) -> float:
    return float(lr_at(step, settings, BASE, SPE, total))


def test_constant_and_plateau_are_flat():
    for name in ("constant", "plateau"):
        values = preview(ScheduleSettings(name=name), BASE, SPE, TOTAL)
        assert values.shape == (TOTAL,)
        np.testing.assert_allclose(values, BASE)


def test_step_decay():
    settings = ScheduleSettings(name="step", step_epochs=3, gamma=0.5)
    assert lr(settings, 0) == pytest.approx(BASE)
    assert lr(settings, 29) == pytest.approx(BASE)
    assert lr(settings, 30) == pytest.approx(BASE * 0.5)
    assert lr(settings, 65) == pytest.approx(BASE * 0.25)


def test_exponential_decay_per_epoch():
    settings = ScheduleSettings(name="exponential", decay_rate=0.9)
    assert lr(settings, 0) == pytest.approx(BASE)
    assert lr(settings, 10) == pytest.approx(BASE * 0.9)
    assert lr(settings, 25) == pytest.approx(BASE * 0.9 ** 2.5)


def test_inverse_time_decay_matches_keras_inverse_time_decay():
    import keras

    settings = ScheduleSettings(name="inverse-time", inverse_time_rate=0.5)
    assert lr(settings, 0) == pytest.approx(BASE)
    assert lr(settings, 20) == pytest.approx(BASE / 2)  # 1 / (1 + 0.5 x 2 epochs)
    reference = keras.optimizers.schedules.InverseTimeDecay(BASE, decay_steps=SPE, decay_rate=0.5)
    steps = np.arange(0, TOTAL, 7)
    np.testing.assert_allclose(preview(settings, BASE, SPE, TOTAL)[steps],
                               [float(reference(int(s))) for s in steps], rtol=1e-6)


def test_cosine_to_floor():
    settings = ScheduleSettings(name="cosine", min_lr_fraction=0.1)
    for step in (0, 50, 100, 150, 199):
        expected = BASE * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / TOTAL)))
        assert lr(settings, step) == pytest.approx(expected)
    assert lr(settings, 100) == pytest.approx(BASE * 0.55)
    assert lr(settings, 500) == pytest.approx(BASE * 0.1)  # past the end it stays at the floor


def test_warmup_then_schedule_with_its_own_counter():
    settings = ScheduleSettings(name="cosine", warmup_epochs=2)  # 20 warm-up steps
    assert lr(settings, 0) == pytest.approx(BASE / 20)
    assert lr(settings, 9) == pytest.approx(BASE * 10 / 20)
    assert lr(settings, 19) == pytest.approx(BASE)
    assert lr(settings, 20) == pytest.approx(BASE)  # the cosine's step 0
    decay = TOTAL - 20
    assert lr(settings, 20 + 90) == pytest.approx(BASE * 0.5 * (1 + math.cos(math.pi * 90 / decay)))
    step_settings = ScheduleSettings(name="step", warmup_epochs=1, step_epochs=1, gamma=0.5)
    assert lr(step_settings, 10) == pytest.approx(BASE)
    assert lr(step_settings, 20) == pytest.approx(BASE * 0.5)


def test_cosine_restarts_jump_back_with_multipliers():
    settings = ScheduleSettings(name="cosine-restarts", restart_epochs=2, period_multiplier=2.0,
                                amplitude_multiplier=0.5, min_lr_fraction=0.1)
    # Periods: [0, 20), [20, 60), [60, 140); peaks 1, 0.5, 0.25 of the part above the floor.
    def expected(restart: int, into: float, length: float) -> float:
        return BASE * (0.1 + 0.9 * 0.5 ** restart * 0.5 * (1 + math.cos(math.pi * into / length)))

    assert lr(settings, 0) == pytest.approx(BASE)
    assert lr(settings, 10) == pytest.approx(expected(0, 10, 20))
    assert lr(settings, 19) == pytest.approx(expected(0, 19, 20))
    assert lr(settings, 20) == pytest.approx(BASE * (0.1 + 0.9 * 0.5))
    assert lr(settings, 20) > lr(settings, 19)
    assert lr(settings, 40) == pytest.approx(expected(1, 20, 40))
    assert lr(settings, 60) == pytest.approx(BASE * (0.1 + 0.9 * 0.25))
    assert lr(settings, 60) > lr(settings, 59)
    assert lr(settings, 100) == pytest.approx(expected(2, 40, 80))
    same_length = ScheduleSettings(name="cosine-restarts", restart_epochs=1, period_multiplier=1.0)
    assert lr(same_length, 5) == pytest.approx(BASE * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr(same_length, 10) == pytest.approx(BASE)
    assert lr(same_length, 35) == pytest.approx(lr(same_length, 5))


def test_restarts_match_keras_cosine_decay_restarts():
    import keras

    settings = ScheduleSettings(name="cosine-restarts", restart_epochs=1.5, period_multiplier=1.5,
                                amplitude_multiplier=0.8, min_lr_fraction=0.05)
    reference = keras.optimizers.schedules.CosineDecayRestarts(BASE, 15, t_mul=1.5, m_mul=0.8, alpha=0.05)
    steps = np.arange(0, 400, 7)
    ours = preview(settings, BASE, SPE, 400)[steps]
    theirs = np.array([float(reference(int(s))) for s in steps])
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["constant", "step", "exponential", "inverse-time", "cosine", "cosine-restarts",
                                  "plateau"])
def test_keras_schedule_equals_numpy_preview(name):
    import keras

    from tlstudio.model.keras_schedules import make_keras_schedule

    settings = ScheduleSettings(name=name, warmup_epochs=1.5, step_epochs=2, restart_epochs=1.0,
                                period_multiplier=2.0, amplitude_multiplier=0.7, min_lr_fraction=0.05)
    schedule = make_keras_schedule(settings, BASE, SPE, TOTAL)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    expected = preview(settings, BASE, SPE, TOTAL)
    steps = np.arange(TOTAL)
    got = keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(steps, dtype="int64")))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)


def test_keras_schedule_scale_and_config_round_trip():
    import keras

    from tlstudio.model.keras_schedules import make_keras_schedule

    settings = ScheduleSettings(name="cosine")
    schedule = make_keras_schedule(settings, BASE, SPE, TOTAL)
    assert float(schedule(0)) == pytest.approx(BASE)
    schedule.scale.assign(0.5)
    assert float(schedule(0)) == pytest.approx(BASE / 2)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(clone(100)) == pytest.approx(float(schedule(100)))
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    assert float(optimizer.learning_rate) == pytest.approx(BASE / 2)


def test_plateau_reduces_after_patience_epochs():
    import keras

    from tlstudio.model.keras_schedules import make_keras_schedule, make_plateau_reducer

    settings = ScheduleSettings(name="plateau", plateau_patience=2, plateau_factor=0.5, plateau_min_lr=0.02)
    schedule = make_keras_schedule(settings, BASE, SPE, TOTAL)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    reducer = make_plateau_reducer(schedule, settings)
    reducer.set_model(model)
    reducer.on_train_begin()
    rates = []
    for epoch, val_loss in enumerate([1.0, 0.8, 0.8, 0.9, 0.7, 0.75, 0.71, 0.8, 0.9, 0.9, 0.9]):
        reducer.on_epoch_end(epoch, {"val_loss": val_loss})
        rates.append(float(model.optimizer.learning_rate))
    # Improvements at epochs 0, 1, 4; two stalled epochs after each -> reductions at 3 and 6,
    # then at 8 down to the floor 0.02 (0.025 * 0.5 is below it), and none after that.
    assert [epoch for epoch, _ in reducer.reductions] == [3, 6, 8]
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02],
                               rtol=1e-6)


def test_plateau_reducer_during_fit():
    import keras

    from tlstudio.model.keras_schedules import make_keras_schedule, make_plateau_reducer

    settings = ScheduleSettings(name="plateau", plateau_patience=1, plateau_factor=0.5, plateau_min_lr=0.0)
    schedule = make_keras_schedule(settings, 1e-7, 2, 8)  # too small to improve the val loss
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    x = np.ones((4, 2), "float32")
    reducer = make_plateau_reducer(schedule, settings)
    model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), epochs=3, batch_size=2, verbose=0,
              callbacks=[reducer])
    assert [epoch for epoch, _ in reducer.reductions] == [1, 2]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.25e-7)


def test_planned_learning_rates_step_like_the_trainer():
    """The Training page's LR plan: the trainer's step count (last partial batch included), phase 2 × factor."""
    from tlstudio.data import steps_per_epoch
    from tlstudio.model.schedules import planned_learning_rates
    from tlstudio.settings.project import Project

    project = Project().copy_with(**{"training.epochs": 3, "training.batch_size": 32, "schedule.name": "constant",
                                     "training.fine_tune.epochs": 2, "training.fine_tune.lr_factor": 0.1})
    x, rates, phase_two = planned_learning_rates(project, train_images=100)
    steps = steps_per_epoch(100, 32)
    assert steps == 4 and len(rates) == (3 + 2) * steps and phase_two == 3.0
    np.testing.assert_allclose(rates[:3 * steps], project.optimizer.learning_rate)
    np.testing.assert_allclose(rates[3 * steps:], project.optimizer.learning_rate * 0.1)
    assert x[0] == 1 / steps and x[-1] == 5.0
