"""Trainer: one training run from a Project to a complete run folder.

The run is a skeleton of stages (`_Run.execute`): choose the process's role, prepare the data and build
the model, start the training session (train/fitting.py: the plan and the parts that keep the record),
train the plan's phases in order, each a strategy (train/phases.py), then keep the best model and write
its metrics. Keras, TensorFlow and the modules that import them are imported inside the functions that
use them: TensorFlow loads in a thread while the images are checked and decoded.

`Trainer().run(project, observer, stop_token)` is synchronous and never raises for what a user
can cause: it returns a RunResult with status FINISHED, STOPPED or FAILED and a one-sentence
message, and the run folder is complete in every case (the best model so far is kept).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlstudio.base.cache_folder import CACHE_DIR_VARIABLE
from tlstudio.model.optimizers import is_full_batch
from tlstudio.model.phase_plan import plan_phases, run_steps_per_epoch
from tlstudio.runs.folder import RUNNING, RunFolderError, RunFolderWriter, discard_run_folder, read_run
from tlstudio.settings.project import Project, ProjectError
from tlstudio.train.backend import (
    Accelerator,
    BackendError,
    activate,
    choose_backend,
    installed,
    keep_tensorflow_off_the_gpu,
    refusal,
)
from tlstudio.train.distribute import Distribution, DistributionError, cluster_config, distribution_for, is_chief
from tlstudio.train.events import Observer, PhaseBegin, RunResult, RunStatus, StopToken, TrainBegin, TrainEnd
from tlstudio.train.prepare import PrepareError, RunData, build_run_model, prepare_run, start_run_folder
from tlstudio.train.recorder import RunRecorder
from tlstudio.train.resume import CHECKPOINT, HISTORY, LOSS_GUARD, ResumeError, ResumePoint

if TYPE_CHECKING:
    from tlstudio.model.build import BuiltModel
    from tlstudio.train.compute import ComputePlan
    from tlstudio.train.fitting import Session
    from tlstudio.train.inputs import CachedValidation


class _Failure(Exception):
    """Ends a run with status FAILED and this message."""


class Trainer:
    """Runs one training run; see `run`."""

    def run(self, project: Project, observer: Observer | None = None, stop_token: StopToken | None = None,
            run_dir: str | Path | None = None, runs_root: str | Path = "runs", data: RunData | None = None
            ) -> RunResult:
        """Train `project` and write its run folder.

        Args:
            project: the settings; copied, so later edits do not reach the run.
            observer: receives events on this thread (Keras's hook names).
            stop_token: `request_stop()` from any thread stops within one batch.
            run_dir: the run folder to create (must be new or empty); default
                `runs_root/<timestamp>-<backbone>`.
            data: the project's images, already scanned, split and decoded (`prepare_run`), for several
                runs on the same data; by default the run prepares its own.
        """
        run = _Run(project.model_copy(deep=True), observer or Observer(), stop_token or StopToken(), given_data=data)
        return run.execute(run_dir, runs_root)

    def resume(self, run_dir: str | Path, observer: Observer | None = None, stop_token: StopToken | None = None,
               more_epochs: int = 0) -> RunResult:
        """Go on with the run in `run_dir` from its last completed epoch (resume.npz), in the same folder.

        With `more_epochs` = 0 it finishes the epochs the run planned (after a crash, a killed process or
        a Stop); with `more_epochs` > 0 it trains that many more epochs after the last completed one, in
        the phase the run ended in, its LR schedule going on where it was. history.csv and steps.csv are
        cut back to that epoch and extended; the best model so far stays the one to beat.
        """
        run_dir = Path(run_dir)
        observer = observer or Observer()
        try:
            point = ResumePoint.load(run_dir)
            if more_epochs:
                point = point.continued(more_epochs)
            elif point.epochs_completed >= point.total_epochs:
                raise ResumeError(f"{run_dir} has trained all its {point.total_epochs} epochs; continue it with "
                                  "more epochs instead.")
            project = read_run(run_dir, steps=False).project
            if project.training.strategy == "multi-worker":
                # resume.npz is on the chief's machine only: the run goes on there, on its own devices.
                observer.on_log("a multi-worker run resumes on this machine alone (strategy auto)")
                project = project.copy_with(**{"training.strategy": "auto"})
        except (ResumeError, RunFolderError, ProjectError, OSError, ValueError) as error:
            message = _sentence(str(error))
            observer.on_train_end(TrainEnd(RunStatus.FAILED, message, str(run_dir), 0, None, None, None, 0.0))
            return RunResult(RunStatus.FAILED, message, run_dir)
        run = _Run(project, observer, stop_token or StopToken(), point)
        return run.execute(run_dir, None)



@dataclass
class _Prepared:
    """What the first stage leaves: the decoded data, the model built under the run's strategy."""

    data: RunData
    built: BuiltModel
    compute: ComputePlan
    distribution: Distribution
    device: str  # for the log and TrainBegin


@dataclass
class _Role:
    """This process's place in a multi-worker run: the chief writes the run folder; another worker trains in
    a temporary folder, removed at the end, and leaves the caches alone."""

    chief: bool = True
    cache_override: str | None = None  # a worker's TLSTUDIO_CACHE_DIR before the run

    def restore_environment(self) -> None:
        if self.cache_override is None:
            os.environ.pop(CACHE_DIR_VARIABLE, None)
        else:
            os.environ[CACHE_DIR_VARIABLE] = self.cache_override


class _Run:
    def __init__(self, project: Project, observer: Observer, stop_token: StopToken,
                 resume_from: ResumePoint | None = None, given_data: RunData | None = None) -> None:
        self.project = project
        self.observer = observer
        self.stop_token = stop_token
        self.resume_from = resume_from  # None for a new run
        self.given_data = given_data
        self.started = time.perf_counter()
        self.role = _Role()
        self.writer: RunFolderWriter | None = None  # once the classes are known; closed whatever happens
        self.in_scope = contextlib.ExitStack()  # the strategy's scope, from the model's build to the end
        self.tf_import: threading.Thread | None = None

    # -- the whole run ---------------------------------------------------------------------

    def execute(self, run_dir, runs_root) -> RunResult:
        status, message, metrics = RunStatus.FAILED, "", {}
        prepared: _Prepared | None = None
        session: Session | None = None
        try:
            run_dir = self._choose_role(run_dir)
            prepared = self._prepare(run_dir, runs_root)
            session = self._start_session(prepared)
            validation = self._train(prepared, session)
            metrics = self._finish(prepared, session, validation)
            status, message = self._outcome(session, metrics)
        except _Failure as failure:
            message = str(failure)
            metrics = self._salvage(prepared, session)
        except (ProjectError, RunFolderError, ResumeError, ValueError, OSError) as error:
            message = _sentence(str(error))
            metrics = self._salvage(prepared, session)
        except Exception as error:  # a crash must still leave a usable app and the best model
            message = _describe_unexpected(error)
            self.observer.on_log(traceback.format_exc())
            metrics = self._salvage(prepared, session)
        finally:
            self.in_scope.close()
            if self.writer is not None:
                self.writer.close()
            if self.tf_import is not None and self.tf_import.is_alive():
                self.tf_import.join()  # never leave a half-imported TensorFlow to the caller
        epochs = session.recorder.epochs_completed if session else 0
        run_path, message = self._settle_folder(status, message, epochs, prepared)
        val = metrics.get("val_accuracy") if metrics else None
        self.observer.on_train_end(TrainEnd(
            status=status, message=message, run_dir=str(run_path) if run_path else "", epochs_completed=epochs,
            best_epoch=session.checkpoint.best_epoch if session else None, val_accuracy=val,
            val_loss=metrics.get("val_loss") if metrics else None, seconds=time.perf_counter() - self.started))
        return RunResult(status, message, run_path, metrics, session.recorder.history if session else [])

    def _settle_folder(self, status: RunStatus, message: str, epochs: int,
                       prepared: _Prepared | None) -> tuple[Path | None, str]:
        """(the run folder that stays, or None; the message): a worker's folder goes, as does a new run's
        that trained nothing; any other gets its status."""
        run_path = self.writer.path if self.writer else None
        if not self.role.chief:
            if run_path is not None:
                shutil.rmtree(run_path.parent, ignore_errors=True)
            self.role.restore_environment()
            worker = prepared.distribution.worker if prepared else "?"
            return None, f"worker {worker}: {message} The chief writes the run folder."
        if run_path is None:
            return None, message
        if status == RunStatus.FAILED and self.resume_from is None and epochs == 0:
            # Failed before its model was built (and so before any epoch): nothing worth a place among
            # the earlier runs. A run that has a model (its last finite weights) keeps it, marked FAILED.
            if discard_run_folder(run_path):
                return None, f"{message.rstrip('.')}; nothing was trained, so no run folder was kept."
        self._write_status(status.value, message)
        return run_path, message

    @staticmethod
    def _outcome(session: Session, metrics: dict[str, Any]) -> tuple[RunStatus, str]:
        halt, epochs = session.halt, session.recorder.epochs_completed
        if halt.reason == "nan":
            return RunStatus.FAILED, halt.message
        if halt.reason == "stop":
            return RunStatus.STOPPED, f"stopped after {epochs} complete epoch(s); the best model is kept."
        return RunStatus.FINISHED, (f"finished {epochs} epochs; validation accuracy "
                                    f"{metrics.get('val_accuracy', float('nan')):.1%}.")

    # -- before the first step -------------------------------------------------------------

    def _choose_role(self, run_dir):
        """On a multi-worker run, whether this process is the chief (TF_CONFIG says so without TensorFlow):
        the other workers train in a temporary folder, removed at the end, and leave the caches alone."""
        training = self.project.training
        if training.strategy != "multi-worker" or self.resume_from is not None:
            return run_dir
        try:
            chief = is_chief(cluster_config())
        except DistributionError as error:
            raise _Failure(str(error)) from None
        if chief:
            return run_dir
        training.image_cache = False
        folder = Path(tempfile.mkdtemp(prefix="tlstudio-worker-"))
        # The scan's own cache too: this process is the worker's alone, and its cache goes with the folder.
        self.role = _Role(chief=False, cache_override=os.environ.get(CACHE_DIR_VARIABLE))
        os.environ[CACHE_DIR_VARIABLE] = str(folder / "cache")
        return folder / "run"

    def _prepare(self, run_dir, runs_root) -> _Prepared:
        # TensorFlow takes seconds to import; let it load while the images are checked and decoded.
        # Joined before this thread imports anything of TensorFlow's: two threads importing its
        # package tree at once can deadlock in its circular imports.
        tf_import = self.tf_import = threading.Thread(
            target=importlib.import_module, args=("tensorflow",), daemon=True, name="tlstudio-import-tensorflow")
        project = self.project
        # An explicit JAX or PyTorch backend is chosen (and reported) first, and such a run imports no TensorFlow
        # at all; auto and TensorFlow are chosen once TensorFlow, imported beside the decoding, can say whether
        # it sees a GPU.
        explicit = project.training.backend not in ("auto", "tensorflow")
        accelerator = self._choose_backend() if explicit else None
        if not explicit and "tensorflow" not in sys.modules and installed("tensorflow"):
            tf_import.start()
        try:
            if self.given_data is not None:  # prepared once for several runs (an optimizer race)
                data = self.given_data
                self._make_writer(data.classes, run_dir, runs_root)
            else:
                data = prepare_run(project, self.observer, self.stop_token,
                                   lambda classes: self._make_writer(classes, run_dir, runs_root))
        except PrepareError as error:
            raise _Failure(str(error)) from None
        if self.resume_from is not None and len(data.x_train) != self.resume_from.train_images:
            raise _Failure(f"the data folder changed since this run ({len(data.x_train)} training images instead "
                           f"of {self.resume_from.train_images}); train a new run.")

        if tf_import.is_alive():
            tf_import.join()
        accelerator = accelerator or self._choose_backend()
        try:
            distribution = distribution_for(project.training, accelerator.backend)
        except DistributionError as error:
            raise _Failure(str(error)) from None
        if is_full_batch(project.optimizer.name) and distribution.replicas > 1:
            raise _Failure(f"L-BFGS fits the head on one device and the strategy runs {distribution.replicas} "
                           "replicas; choose another optimizer or the auto strategy.")
        # Model, optimizer, metrics, the feature-cache head and every model saved are made under the strategy.
        self.in_scope.enter_context(distribution.scope())
        built, compute = build_run_model(project, data, self.observer, accelerator)
        replicas = distribution.replicas
        device = compute.describe() + (f", {replicas} replicas" if replicas > 1 else "")
        return _Prepared(data, built, compute, distribution, device)

    def _choose_backend(self) -> Accelerator:
        """The Keras backend and device this run trains on, set before Keras loads; refused in one sentence
        when it is not installed or a setting needs another backend."""
        try:
            accelerator = choose_backend(self.project.training.backend)
            activate(accelerator.backend)
        except BackendError as error:
            raise _Failure(str(error)) from None
        reason = refusal(self.project, accelerator.backend)
        if reason:
            raise _Failure(reason)
        if accelerator.backend != "tensorflow" and "tensorflow" in sys.modules:
            keep_tensorflow_off_the_gpu()  # imported to ask it for a GPU (auto): it leaves the GPU to the backend
        self.observer.on_log(f"{accelerator.describe()} (training.backend {self.project.training.backend})")
        return accelerator

    def _make_writer(self, classes: list[str], run_dir, runs_root) -> RunFolderWriter:
        point = self.resume_from
        if point is None:
            self.writer = start_run_folder(self.project, classes, run_dir, runs_root)
        else:
            if list(classes) != list(point.classes):
                raise _Failure(f"the data folder's classes changed since this run ({', '.join(classes)} "
                               f"instead of {', '.join(point.classes)}); train a new run.")
            self.writer = RunFolderWriter(run_dir, keep_epochs=point.epochs_completed)
        self._write_status(RUNNING, "training")
        return self.writer

    def _start_session(self, prepared: _Prepared) -> Session:
        """The training stage's plan and the parts that keep its record, as a resumed run left them."""
        from tlstudio.train.checkpoint import Checkpoint
        from tlstudio.train.fitting import Session
        from tlstudio.train.inputs import balanced_class_weights
        from tlstudio.train.keras_callbacks import Halt, LossGuard, StopCheck

        project, data, observer = self.project, prepared.data, self.observer
        steps_per_epoch = run_steps_per_epoch(project, len(data.x_train))
        point = self.resume_from
        phases = point.phases if point is not None else plan_phases(project, steps_per_epoch)
        halt = Halt()
        model = prepared.built.model
        checkpoint = Checkpoint(model, self.writer, halt,
                                averaging=bool(project.optimizer.ema) and not is_full_batch(project.optimizer.name))
        session = Session(
            project=project, observer=observer, stop_token=self.stop_token, run_dir=self.writer.path,
            classes=list(data.classes), train_images=len(data.x_train), jit_compile=prepared.compute.jit_compile,
            replicas=prepared.distribution.replicas, phases=phases, steps_per_epoch=steps_per_epoch, halt=halt,
            recorder=RunRecorder(self.writer, observer), checkpoint=checkpoint,
            loss_guard=LossGuard(halt, checkpoint.restore_last_finite, observer, len(data.classes)),
            stop_check=StopCheck(halt, self.stop_token), resume_from=point)
        training = project.training
        if training.class_weights == "balanced":
            session.class_weights = balanced_class_weights(data.y_train, len(data.classes))
            observer.on_log("class weights (balanced): " + ", ".join(
                f"{name} {session.class_weights[i]:.2f}" for i, name in enumerate(data.classes)))
        if training.balanced_sampling:
            observer.on_log(f"balanced sampling: each batch draws the {len(data.classes)} classes equally often")
        if point is not None:
            self._pick_up(point, session, model)
        return session

    def _pick_up(self, point: ResumePoint, session: Session, model: Any) -> None:
        """The record, the weights and the guard as they were after the point's last completed epoch."""
        if point.steps_per_epoch != session.steps_per_epoch:
            raise _Failure(f"this run took {point.steps_per_epoch} steps an epoch and would now take "
                           f"{session.steps_per_epoch} (the data or batch size changed); train a new run.")
        try:
            model.set_weights(point.model_weights)
        except ValueError as error:
            raise _Failure(f"the saved weights do not fit the model this run's settings build ({error}); "
                           "train a new run.") from None
        session.recorder.set_state(point.state_of(HISTORY))
        session.checkpoint.set_state(point.state_of(CHECKPOINT))
        session.loss_guard.set_state(point.state_of(LOSS_GUARD))
        total = point.total_epochs
        if point.continuations and point.continuations[-1]["after_epoch"] == point.epochs_completed:
            self.observer.on_log(f"continuing for {total - point.epochs_completed} more epoch(s) after epoch "
                                 f"{point.epochs_completed}, from its weights and optimizer state")
        else:
            self.observer.on_log(f"resuming at epoch {point.epochs_completed + 1} of {total}, from the state "
                                 f"saved after epoch {point.epochs_completed}")

    # -- the phases ------------------------------------------------------------------------

    def _train(self, prepared: _Prepared, session: Session) -> CachedValidation | None:
        """Each phase of the plan not done yet, in order, as its strategy fits it; returns the validation
        images' cached features when they are still valid for the model the run ends with."""
        from tlstudio.model.freezing import unfreeze_top
        from tlstudio.train.features import FeatureStore
        from tlstudio.train.inputs import InputBuilder, InputsStopped
        from tlstudio.train.phases import PhaseError, phase_strategy

        project, data = self.project, prepared.data
        self._announce_run(prepared, session)
        builder = InputBuilder(project, data, prepared.built.model, self.observer, self.stop_token,
                               FeatureStore() if self.role.chief else None)
        validation = None
        for phase in session.phases:
            if session.halt.halted:
                break
            if phase.end_epoch <= session.recorder.epochs_completed:
                continue  # done before this run was resumed
            if phase.number == 2:
                unfreeze_top(prepared.built.backbone, project.training.fine_tune.unfreeze,
                             project.model.train_batchnorm)
            try:
                strategy = phase_strategy(project, builder, prepared.built.backbone, phase.number,
                                          prepared.distribution.replicas)
                self._announce_phase(phase, session, prepared, strategy)
                inputs = strategy.inputs()
            except (PhaseError, InputsStopped) as error:
                raise _Failure(str(error)) from None
            # The head's view of the validation set stays valid only while the backbone is unchanged.
            validation = inputs.cached_validation
            strategy.fit(inputs, session, phase)
        return validation

    def _announce_run(self, prepared: _Prepared, session: Session) -> None:
        project, data, training = self.project, prepared.data, self.project.training
        point = self.resume_from
        self.observer.on_train_begin(TrainBegin(
            run_dir=str(session.run_dir), classes=tuple(data.classes), train_images=len(data.x_train),
            val_images=len(data.x_val), epochs=session.total_epochs, steps_per_epoch=session.steps_per_epoch,
            total_steps=session.total_steps, batch_size=training.batch_size, device=prepared.device,
            image_size=data.image_size, backbone=project.model.backbone,
            epochs_done=session.recorder.epochs_completed, steps_done=point.global_step if point else 0))
        self.observer.on_log(f"{len(data.x_train)} training and {len(data.x_val)} validation images, "
                             f"{len(data.classes)} classes, {data.image_size} px; {prepared.device}")
        self.observer.on_log(f"strategy {prepared.distribution.describe(training.batch_size)}")
        if training.devices and training.strategy != "mirrored":
            self.observer.on_log(f"training.devices is ignored: only the mirrored strategy reads it (strategy is "
                                 f"{training.strategy})")

    def _announce_phase(self, phase, session: Session, prepared: _Prepared, strategy) -> None:
        from tlstudio.model.build import count_parameters

        trainable, frozen = count_parameters(prepared.built.model)
        self.observer.on_phase_begin(PhaseBegin(
            phase=phase.number, first_epoch=phase.first_epoch + 1,
            first_step=phase.steps_before(session.steps_per_epoch) + 1, learning_rate=phase.base_lr,
            trainable_parameters=trainable, frozen_parameters=frozen, description=phase.description,
            feature_cache=strategy.feature_cache, feature_cache_note=strategy.cache_note))
        self.observer.on_log(f"phase {phase.number}: {phase.description}; LR {phase.base_lr:g}, "
                             f"{trainable:,} trainable and {frozen:,} frozen parameters")
        self.observer.on_log(f"feature cache {'in use' if strategy.feature_cache else 'not used'}: "
                             f"{strategy.cache_note}")

    # -- after the last step ---------------------------------------------------------------

    def _finish(self, prepared: _Prepared, session: Session, validation: CachedValidation | None) -> dict[str, Any]:
        from tlstudio.train.final_metrics import final_metrics

        session.checkpoint.keep_best()
        metrics = final_metrics(self.project, prepared.data, session, validation, time.perf_counter() - self.started)
        self.writer.write_metrics(metrics)
        return metrics

    def _salvage(self, prepared: _Prepared | None, session: Session | None) -> dict[str, Any]:
        """After a failure: make sure the best model so far is on disk, with its metrics."""
        if prepared is None or session is None:
            return {}
        try:
            return self._finish(prepared, session, None)
        except Exception as error:  # the original failure is what the user needs to read
            self.observer.on_log(f"could not save the model after the failure: {error}")
            return {}

    def _write_status(self, status: str, message: str) -> None:
        try:
            self.writer.write_status(status, message)
        except OSError as error:  # the run goes on; only its status line is missing
            self.observer.on_log(f"could not write status.json: {error}")


def _describe_unexpected(error: Exception) -> str:
    name = type(error).__name__
    if name == "ResourceExhaustedError" or isinstance(error, MemoryError):
        return "out of memory; lower the batch size or the image size and train again."
    text = str(error).strip().splitlines()[0] if str(error).strip() else name
    return f"training failed: {name}: {text[:300]} (details in the log)."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
