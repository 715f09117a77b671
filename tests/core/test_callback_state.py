"""Each part of a run keeps its own state and gives it back after a resume (get_state / set_state), resume.npz
keeps those states (and still reads the files written before), and the step count is the optimizer's."""

import json

import numpy as np

from tlstudio.settings.project import Project
from tlstudio.train.events import Observer, StopToken


def small_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="features")
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))


def run_writer(path):
    from tlstudio.runs.folder import RunFolderWriter

    writer = RunFolderWriter(path)
    writer.write_config(Project())
    writer.write_labels(["a", "b", "c"])
    return writer


def row(epoch, loss, val_loss):
    return {"epoch": epoch, "loss": loss, "accuracy": 0.5, "val_loss": val_loss, "val_accuracy": 0.5, "lr": 1e-3}


def test_the_loss_guard_and_the_recorder_give_back_their_state(tmp_path):
    from tlstudio.runs.folder import RunFolderWriter
    from tlstudio.train.keras_callbacks import Halt, LossGuard
    from tlstudio.train.recorder import RunRecorder

    guard = LossGuard(Halt(), lambda: None, Observer(), classes=3)
    guard.check.divergence(2.5, 1e-3, 1, 1)
    again = LossGuard(Halt(), lambda: None, Observer(), classes=3)
    again.set_state(json.loads(json.dumps(guard.get_state())))
    assert again.get_state() == guard.get_state() == {"start_loss": 2.5}

    writer = run_writer(tmp_path / "run")
    recorder = RunRecorder(writer, Observer())
    for epoch in (1, 2, 3):
        recorder.add_step(epoch, epoch, 1.0, 1e-3)
        recorder.add_epoch(row(epoch, 1.0986 - epoch * 1e-4, 1.099))  # a loss that hardly moves: one warning
    writer.close()
    state = recorder.get_state()
    assert state["epochs_completed"] == 3 and state["warnings"]["warned"] == ["stuck"]
    reopened = RunFolderWriter(tmp_path / "run", keep_epochs=2)  # resumed after epoch 2
    resumed = RunRecorder(reopened, Observer())
    resumed.set_state({**json.loads(json.dumps(state)), "epochs_completed": 2})
    reopened.close()
    assert resumed.epochs_completed == 2 and [r["epoch"] for r in resumed.history] == [1, 2]
    assert resumed.get_state()["warnings"] == state["warnings"]


def test_the_checkpoint_gives_back_its_best_and_last_weights(tmp_path):
    from tlstudio.train.checkpoint import Checkpoint
    from tlstudio.train.keras_callbacks import Halt

    model = small_model()
    checkpoint = Checkpoint(model, run_writer(tmp_path / "run"), Halt())
    best = model.get_weights()
    assert checkpoint.epoch_completed(1, 0.5)
    model.set_weights([w + 1 for w in best])
    assert not checkpoint.epoch_completed(2, 0.7)
    state = checkpoint.get_state()
    assert (state["best_epoch"], state["best_val_loss"]) == (1, 0.5)
    assert all(np.array_equal(a, b) for a, b in zip(state["best_weights"], best, strict=True))

    other = small_model()
    resumed = Checkpoint(other, run_writer(tmp_path / "other"), Halt())
    resumed.set_state(state)
    assert (resumed.best_epoch, resumed.best_val_loss) == (1, 0.5)
    assert resumed.is_best(1) and not resumed.is_best(2)
    resumed.restore_last_finite()
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), model.get_weights(), strict=True))
    # The best epoch is the last one: its weights are the last weights, and only those are kept.
    assert checkpoint.epoch_completed(3, 0.1) and checkpoint.get_state()["best_weights"] is None


def test_early_stopping_and_the_plateau_reducer_take_up_their_counts_when_fit_begins():
    import keras

    from tlstudio.model.keras_schedules import make_keras_schedule, make_plateau_reducer
    from tlstudio.settings.project import ScheduleSettings
    from tlstudio.train.keras_callbacks import ResumableEarlyStopping

    settings = ScheduleSettings(name="plateau", plateau_patience=3, plateau_factor=0.5)
    schedule = make_keras_schedule(settings, 0.1, 2, 20)
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    stopping, reducer = ResumableEarlyStopping(patience=4), make_plateau_reducer(schedule, settings)
    for callback in (stopping, reducer):
        callback.set_model(model)
        callback.on_train_begin()
        for epoch, val_loss in enumerate([1.0, 0.8, 0.9, 0.95]):
            callback.on_epoch_end(epoch, {"val_loss": val_loss})
    schedule.scale.assign(0.25)  # as after two reductions
    assert stopping.get_state() == {"wait": 2, "best": 0.8}
    assert reducer.get_state() == {"wait": 2, "best": 0.8, "scale": 0.25}

    schedule_again = make_keras_schedule(settings, 0.1, 2, 20)
    stopping_again, reducer_again = ResumableEarlyStopping(patience=4), make_plateau_reducer(schedule_again, settings)
    stopping_again.set_state(json.loads(json.dumps(stopping.get_state())))
    reducer_again.set_state(json.loads(json.dumps(reducer.get_state())))
    assert float(schedule_again.scale.numpy()) == 0.25  # the LR is lowered at once
    for callback in (stopping_again, reducer_again):
        callback.set_model(model)
        callback.on_train_begin()  # fit() resets the counts here; the saved ones win
    assert stopping_again.get_state() == stopping.get_state()
    assert reducer_again.get_state() == reducer.get_state()
    stopping_again.on_epoch_end(4, {"val_loss": 0.9})
    stopping_again.on_epoch_end(5, {"val_loss": 0.9})
    assert model.stop_training  # 4 epochs without a better val_loss, counted over the resume


def test_resume_npz_keeps_each_part_by_name_and_reads_files_written_before(tmp_path):
    from tlstudio.model.phase_plan import PhasePlan
    from tlstudio.train.resume import ResumePoint

    weights = [np.ones((4, 3), np.float32), np.zeros(3, np.float32)]
    states = {
        "history": {"epochs_completed": 3, "warnings": {"warned": ["stuck"]}},
        "checkpoint": {"best_epoch": 2, "best_val_loss": 0.4, "last_weights": weights, "best_weights": None},
        "loss_guard": {"start_loss": 1.2},
        "early_stopping": {"wait": 1, "best": 0.4},
        "plateau": {"wait": 1, "best": 0.4, "scale": 0.5},
        "resume": {"continuations": [{"after_epoch": 2, "epochs": 1}]},
    }
    phases = [PhasePlan(1, 0, 3, 1e-3, "training", 12)]
    point = ResumePoint.from_states(states, global_step=12, steps_per_epoch=4, train_images=30, classes=["a", "b"],
                                    phase=1, phases=phases, optimizer_variables=[np.array(12)])
    point.save(tmp_path)
    loaded = ResumePoint.load(tmp_path)
    for name, state in states.items():
        got = loaded.state_of(name)
        if name == "checkpoint":
            assert all(np.array_equal(a, b) for a, b in zip(got.pop("last_weights"), weights, strict=True))
            state = {k: v for k, v in state.items() if k != "last_weights"}
        assert got == state, name
    assert loaded.phases == phases and loaded.global_step == 12

    # A resume.npz written before the parts kept their own state: the same version, fewer states.
    with np.load(tmp_path / "resume.npz") as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in data.files if k != "meta"}
    meta["callbacks"] = {"early_stopping": {"wait": 1, "best": 0.4}}
    np.savez(tmp_path / "resume.npz", meta=np.array(json.dumps(meta)), **arrays)
    old = ResumePoint.load(tmp_path)
    assert old.state_of("early_stopping") == {"wait": 1, "best": 0.4}
    assert old.state_of("loss_guard") == {} and old.state_of("history") == {"epochs_completed": 3}


class _Rows:
    def __init__(self):
        self.steps, self.epochs = [], []

    def add_step(self, step, epoch, loss, lr):
        self.steps.append(step)

    def add_epoch(self, row):
        self.epochs.append(row)


def test_the_step_count_is_the_optimizers_plus_the_earlier_phases_steps():
    """A phase that starts after 40 planned steps, its optimizer already 10 steps on (as after a resume):
    the relay numbers the steps from the optimizer's own counter, and a batch the optimizer did not count
    (Keras's loss scaling skips a step whose gradients overflow) would not be a step either."""
    import keras

    from tlstudio.train.keras_callbacks import EventRelay, Halt, PhaseScale

    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(10)
    rows = _Rows()

    def step_count():
        return 40 + int(keras.ops.convert_to_numpy(model.optimizer.iterations))

    relay = EventRelay(rows, Observer(), Halt(), PhaseScale(2, 20, 3, 60, 4, 12), classes=["a", "b", "c"],
                       step_count=step_count, learning_rate=lambda: 0.01, samples_per_batch=lambda batch: 4,
                       is_best=lambda epoch: False)
    x = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
    model.fit(x, y, batch_size=4, epochs=1, callbacks=[relay], shuffle=False, verbose=0)
    assert rows.steps == [51, 52, 53]
    assert int(model.optimizer.iterations.numpy()) == 13


def test_stop_check_and_relay_keep_nothing_over_a_resume():
    from tlstudio.train.keras_callbacks import Halt, StopCheck

    check = StopCheck(Halt(), StopToken())
    check.set_state(check.get_state())
    assert check.get_state() == {}


def test_the_core_names_the_full_batch_optimizer_in_one_place():
    """FULL_BATCH_OPTIMIZERS says which optimizer fits full-batch; the core asks `is_full_batch`, never
    compares an optimizer's name with "lbfgs"."""
    from pathlib import Path

    from tlstudio.model.optimizers import FULL_BATCH_OPTIMIZERS, is_full_batch

    assert is_full_batch("lbfgs") and FULL_BATCH_OPTIMIZERS == {"lbfgs"} and not is_full_batch("adam")
    package = Path(__file__).resolve().parents[2] / "tlstudio"
    core = [path for path in package.rglob("*.py") if path.relative_to(package).parts[0] != "gui"]
    comparisons = [str(path.relative_to(package)) for path in core
                   if any(f'{op} "lbfgs"' in path.read_text(encoding="utf-8") for op in ("==", "!="))]
    assert comparisons == []
