"""How a phase fits: Keras's fit() with the run's callbacks, or L-BFGS on cached features reporting through
the same checkpoint, relay and resume saver. A Keras module (it imports Keras at its top; the trainer
imports it inside the function that starts training).

`Session` is the run's training stage, made once its model is built: the plan it follows and the parts that
keep its record (each owns its state, `get_state` / `set_state`). The step count is the optimizer's
`iterations` plus the steps the plan gives the phases before this one; nothing counts steps by hand.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tlstudio.model.keras_schedules import make_keras_schedule, make_plateau_reducer
from tlstudio.model.optimizers import make_optimizer
from tlstudio.model.phase_plan import PhasePlan
from tlstudio.runs.folder import TENSORBOARD_FOLDER
from tlstudio.settings.project import Project
from tlstudio.train.checkpoint import Checkpoint
from tlstudio.train.distribute import distributable
from tlstudio.train.events import Observer, StopToken
from tlstudio.train.inputs import CachedValidation, FitInputs
from tlstudio.train.keras_callbacks import (
    EventRelay,
    FeatureValidation,
    Halt,
    LossGuard,
    PhaseScale,
    ResumableEarlyStopping,
    ResumeSaver,
    SnapshotKeeper,
    StopCheck,
)
from tlstudio.train.keras_metrics import compile_arguments
from tlstudio.train.lbfgs import fit_head_lbfgs
from tlstudio.train.recorder import RunRecorder
from tlstudio.train.resume import (
    CHECKPOINT,
    EARLY_STOPPING,
    HISTORY,
    LOSS_GUARD,
    PLATEAU,
    RESUME,
    ResumePoint,
    Stateful,
    assign_optimizer_variables,
)
from tlstudio.train.snapshots import Snapshots


@dataclass
class Session:
    """A run's training stage: its plan, and the parts that keep its record across every phase."""

    project: Project
    observer: Observer
    stop_token: StopToken
    run_dir: Path
    classes: list[str]
    train_images: int
    jit_compile: bool | str
    replicas: int
    phases: list[PhasePlan]
    steps_per_epoch: int
    halt: Halt
    recorder: RunRecorder
    checkpoint: Checkpoint
    loss_guard: LossGuard
    stop_check: StopCheck
    class_weights: dict[int, float] | None = None
    resume_from: ResumePoint | None = None

    @property
    def total_epochs(self) -> int:
        return self.phases[-1].end_epoch

    @property
    def total_steps(self) -> int:
        return self.total_epochs * self.steps_per_epoch

    def first_epoch(self, phase: PhasePlan) -> int:
        """Where this run's fit of `phase` starts (0-based): later than planned after a resume."""
        return max(phase.first_epoch, self.recorder.epochs_completed)

    def resumed_in(self, phase: PhasePlan) -> ResumePoint | None:
        """The resume point, when this fit goes on inside the phase it was saved in."""
        point = self.resume_from
        if point is not None and point.phase == phase.number and self.first_epoch(phase) > phase.first_epoch:
            return point
        return None


def fit_with_keras(inputs: FitInputs, session: Session, phase: PhasePlan) -> None:
    """Keras's fit() of `inputs.model` over the phase's epochs (from where a resumed run left off)."""
    project, model = session.project, inputs.model
    # The schedule spans the phase as first planned: epochs added by continuing go on along it.
    schedule = make_keras_schedule(project.schedule, phase.base_lr, session.steps_per_epoch, phase.schedule_steps)
    # Recompile after every change to `trainable` (docs/stack-notes.md #1); a fresh optimizer per phase.
    model.compile(optimizer=make_optimizer(project.optimizer, schedule), jit_compile=session.jit_compile,
                  **compile_arguments(project, len(session.classes)))
    phase_parts: dict[str, Any] = {}
    if project.schedule.name == "plateau":
        phase_parts[PLATEAU] = make_plateau_reducer(schedule, project.schedule)
    if project.training.early_stopping:
        phase_parts[EARLY_STOPPING] = ResumableEarlyStopping(project.training.early_stopping)
    point = session.resumed_in(phase)
    if point is not None:
        _take_up_phase(point, session, phase, model, schedule, phase_parts)
    steps_before = phase.steps_before(session.steps_per_epoch)

    def step_count() -> int:
        return steps_before + int(keras.ops.convert_to_numpy(model.optimizer.iterations))

    relay = _relay(session, phase, inputs, project.training.batch_size, step_count,
                   lambda: float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    saver = _saver(session, phase, phase_parts, step_count,
                   lambda: [np.asarray(v.numpy()) for v in model.optimizer.variables])
    train, validation = inputs.train, inputs.validation
    if session.replicas > 1:
        train = distributable(train)
        validation = distributable(validation) if validation is not None else None
    first = [FeatureValidation(*inputs.feature_validation)] if inputs.feature_validation is not None else []
    # In this order: the guard sees a NaN first, the checkpoint keeps a complete epoch, the relay reports
    # it, then a Stop ends the fit; the state is saved last, once early stopping and the plateau reducer
    # have had their say.
    model.fit(train, epochs=phase.end_epoch, initial_epoch=session.first_epoch(phase),
              steps_per_epoch=session.steps_per_epoch, validation_data=validation, class_weight=session.class_weights,
              callbacks=[*first, session.loss_guard, session.checkpoint, relay, session.stop_check,
                         *phase_parts.values(), *_keras_extras(project, session.run_dir), saver,
                         SnapshotKeeper(Snapshots(session.run_dir, project.schedule, session.observer),
                                        session.recorder, session.halt, phase, session.steps_per_epoch,
                                        session.checkpoint.save_last)],
              shuffle=False, verbose=0)
    if model.stop_training and not session.halt.halted:
        session.observer.on_log(f"early stopping: no val_loss improvement for {project.training.early_stopping} "
                                f"epochs; phase {phase.number} ends")


def fit_full_batch(inputs: FitInputs, session: Session, phase: PhasePlan) -> None:
    """L-BFGS on the cached features (train/lbfgs.py); each iteration is an epoch of one step, which the
    checkpoint, the relay and the resume saver take as they take an epoch of fit()."""
    project, observer, halt, head = session.project, session.observer, session.halt, inputs.model
    features, labels = inputs.train
    first_epoch = session.first_epoch(phase)
    taken = 0  # iterations of this fit; with one step an epoch, the plan's step count is first_epoch + taken
    relay = _relay(session, phase, inputs, len(features), lambda: first_epoch + taken, lambda: math.nan)
    saver = _saver(session, phase, {}, lambda: first_epoch + taken, list)
    callbacks = keras.callbacks.CallbackList([session.checkpoint, relay, saver], model=head)
    validation_logs = _validation_logs(inputs.cached_validation, len(session.classes), project.model.label_smoothing)
    observer.on_log(f"L-BFGS: fitting the head full-batch on {len(features)} feature vectors, at most "
                    f"{phase.end_epoch - first_epoch} iterations (dropout off; L2 {project.model.l2:g})")
    started = time.perf_counter()
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(first_epoch)

    def on_iteration(iteration: int, loss: float, accuracy: float) -> bool:
        nonlocal taken
        taken = iteration
        epoch = first_epoch + iteration - 1  # 0-based, as Keras counts
        if not math.isfinite(loss):
            session.checkpoint.restore_last_finite()
            halt.halt(head, "nan", "the loss became NaN during L-BFGS; the last finite weights were kept.")
        logs = {"loss": loss, "accuracy": accuracy}
        callbacks.on_train_batch_begin(0)
        callbacks.on_train_batch_end(0, logs)
        callbacks.on_epoch_end(epoch, {**logs, **validation_logs()})
        if session.stop_token.stop_requested:
            halt.halt(head, "stop")  # after the iteration is kept: it is a complete epoch
        if halt.halted:
            return False
        callbacks.on_epoch_begin(epoch + 1)
        return True

    report = fit_head_lbfgs(head, features, labels, len(session.classes), max_iterations=phase.end_epoch - first_epoch,
                            label_smoothing=project.model.label_smoothing, on_iteration=on_iteration)
    callbacks.on_train_end()
    observer.on_log(f"L-BFGS: {report.iterations} iterations in {time.perf_counter() - started:.1f} s; "
                    f"{'converged' if report.converged else 'stopped'} ({report.message})")


def _relay(session: Session, phase: PhasePlan, inputs: FitInputs, images_per_step: int,
           step_count: Callable[[], int], learning_rate: Callable[[], float]) -> EventRelay:
    scale = PhaseScale(phase.number, session.total_epochs, session.steps_per_epoch, session.total_steps,
                       images_per_step, inputs.epoch_images)
    return EventRelay(session.recorder, session.observer, session.halt, scale, classes=session.classes,
                      step_count=step_count, learning_rate=learning_rate, samples_per_batch=inputs.samples_per_batch,
                      is_best=session.checkpoint.is_best)


def _saver(session: Session, phase: PhasePlan, phase_parts: dict[str, Stateful], step_count: Callable[[], int],
           optimizer_variables: Callable[[], list[np.ndarray]]) -> ResumeSaver:
    parts = {HISTORY: session.recorder, CHECKPOINT: session.checkpoint, LOSS_GUARD: session.loss_guard,
             **phase_parts}
    saver = ResumeSaver(session.run_dir, session.halt, parts, phase=phase.number, phases=session.phases,
                        steps_per_epoch=session.steps_per_epoch, train_images=session.train_images,
                        classes=session.classes, step_count=step_count, optimizer_variables=optimizer_variables)
    if session.resume_from is not None:
        saver.set_state(session.resume_from.state_of(RESUME))
    return saver


def _keras_extras(project: Project, run_dir: Path) -> list:
    extras = []
    if project.optimizer.ema:
        # Validation runs on the Polyak average (the model the run keeps), training on the raw weights.
        extras.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=False))
    if project.training.tensorboard:
        # One log folder for every phase (and every resume or continuation): Keras numbers the epochs
        # from initial_epoch, so the curves go on. No graph, no histograms: epoch scalars only.
        extras.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_FOLDER), write_graph=False,
                                                  update_freq="epoch"))
    return extras


def _take_up_phase(point: ResumePoint, session: Session, phase: PhasePlan, model: Any, schedule: Any,
                   phase_parts: dict[str, Stateful]) -> None:
    """The optimizer's state (its step counter drives the LR schedule) and the phase's callbacks' state, as
    they were after the point's epoch."""
    assign_optimizer_variables(model.optimizer, model.trainable_variables, point.optimizer_variables)
    for name, part in phase_parts.items():
        part.set_state(point.state_of(name))
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    lr = float(keras.ops.convert_to_numpy(schedule(step)))
    session.observer.on_log(f"the LR schedule goes on at step {step + 1} of the phase: LR {lr:.3g}")
    if lr <= phase.base_lr * 1e-6:
        session.observer.on_log(f"warning: the {session.project.schedule.name} schedule has already brought the LR "
                                "down to zero, so more epochs will not change the model; train a new run with a "
                                "schedule that keeps a floor (min LR fraction) or more epochs.")


def _validation_logs(validation: CachedValidation, num_classes: int, label_smoothing: float):
    """A function giving the head's val_loss and val_accuracy on the cached validation features now."""
    cross_entropy = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    targets = keras.ops.one_hot(validation.labels, num_classes)

    def logs() -> dict[str, float]:
        probabilities = validation.head(validation.features, training=False)
        accuracy = (float(np.mean(np.argmax(probabilities, axis=1) == validation.labels))
                    if len(validation.labels) else 0.0)
        return {"val_loss": float(cross_entropy(targets, probabilities)), "val_accuracy": accuracy}

    return logs
