"""Trainer: one training run from a Project to a complete run folder.

Keras, TensorFlow and `tlstudio.data.pipeline` (which imports TensorFlow) are imported inside the
methods that use them: TensorFlow loads in a thread while the images are checked and decoded.

`Trainer().run(project, observer, stop_token)` is synchronous and never raises for what a user
can cause: it returns a RunResult with status FINISHED, STOPPED or FAILED and a one-sentence
message, and the run folder is complete in every case (the best model so far is kept).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.base.cache_folder import CACHE_DIR_VARIABLE
from tlstudio.base.tasks import Cancelled
from tlstudio.data import steps_per_epoch
from tlstudio.model import schedules  # its Keras classes (PlateauReducer, ...) are made on first access
from tlstudio.model.augment import make_augmenter
from tlstudio.model.build import count_parameters
from tlstudio.model.freezing import unfreeze_top
from tlstudio.model.optimizers import FULL_BATCH_OPTIMIZERS, make_optimizer
from tlstudio.predict.metrics import classification_metrics
from tlstudio.predict.predictor import inference_function, predict_in_batches
from tlstudio.runs.folder import (
    RUNNING,
    TENSORBOARD_FOLDER,
    RunFolderError,
    RunFolderWriter,
    discard_run_folder,
    read_run,
)
from tlstudio.settings.project import Project, ProjectError
from tlstudio.train.callbacks import Halt, balanced_class_weights, callback_classes, class_recall_metrics
from tlstudio.train.checkpoint import Checkpoint
from tlstudio.train.distribute import (
    Distribution,
    DistributionError,
    cluster_config,
    distributable,
    distribution_for,
    is_chief,
)
from tlstudio.train.events import (
    BatchEnd,
    EpochEnd,
    Observer,
    PhaseBegin,
    PrepareProgress,
    RunResult,
    RunStatus,
    StopToken,
    TrainBegin,
    TrainEnd,
)
from tlstudio.train.features import (
    FeatureHead,
    FeatureStore,
    compute_features,
    feature_cache_decision,
    validation_cache_decision,
)
from tlstudio.train.loss_checks import HealthCheck
from tlstudio.train.prepare import PrepareError, RunData, build_run_model, prepare_run, start_run_folder
from tlstudio.train.resume import PhasePlan, ResumeError, ResumePoint, assign_optimizer_variables
from tlstudio.train.snapshots import Snapshots


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
        run = _Run(project.model_copy(deep=True), observer or Observer(), stop_token or StopToken())
        run.given_data = data
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


class _Run:
    def __init__(self, project: Project, observer: Observer, stop_token: StopToken,
                 resume_from: ResumePoint | None = None) -> None:
        self.project = project
        self.observer = observer
        self.stop_token = stop_token
        self.resume_from = resume_from  # None for a new run
        self.given_data: RunData | None = None
        self.plan: list[PhasePlan] = resume_from.phases if resume_from else []
        self.phase_number = 0  # the phase now training
        self.fit_model = None  # what fit() trains now: the model, a wrapper with augmentation, or the head
        self._phase_callbacks: list = []  # this phase's early stopping and plateau reducer, if any
        self.health: HealthCheck | None = None  # once the classes are known
        self.feature_store = FeatureStore()
        self.full_batch = False  # L-BFGS on cached features instead of Keras's fit
        self.phase_plan: PhasePlan | None = None  # the phase now training
        self.train_arrays = None  # (training features, labels) while the head trains on cached features
        self.class_weights: dict[int, float] | None = None  # with training.class_weights "balanced"
        self._per_class_log = False  # per-class validation recall in the log (class weights or balanced sampling)
        self.started = time.perf_counter()
        self.writer: RunFolderWriter | None = None
        self.checkpoint: Checkpoint | None = None  # once the model is built
        self.model = None
        self.history: list[dict[str, float]] = []
        self.epochs_completed = 0
        self.global_step = 0
        self.stopped = False
        self.nan_message: str | None = None
        self.val_features = None  # (head model, cached validation features) while they are valid
        self.tf_import: threading.Thread | None = None
        # Set by the stages as they come: the data (prepare), the model (build), the loop (train).
        self.data: RunData | None = None
        self.classes: list[str] = []
        self.image_size = 0
        self.x_train = self.y_train = self.x_val = self.y_val = None
        self.built = self.compute = self.augmenter = self.schedule = None
        self.device = ""
        self.distribution: Distribution | None = None  # the tf.distribute strategy, once TensorFlow is in
        self.chief = True  # False on a multi-worker run's other workers: they write to a temporary folder
        self.in_scope = contextlib.ExitStack()  # the strategy's scope, from the model's build to the end
        self._cache_override: str | None = None  # a worker's TLSTUDIO_CACHE_DIR before the run
        self.steps_per_epoch = self.total_steps = 0
        self.fit_samples = None  # batch index -> images in that batch, for the current fit

    # -- the whole run ---------------------------------------------------------------------

    def execute(self, run_dir, runs_root) -> RunResult:
        status, message, metrics = RunStatus.FAILED, "", {}
        try:
            run_dir = self._choose_role(run_dir)
            self._prepare(run_dir, runs_root)
            self._train()
            metrics = self._finish()
            if self.nan_message:
                status, message = RunStatus.FAILED, self.nan_message
            elif self.stopped:
                status, message = RunStatus.STOPPED, (
                    f"stopped after {self.epochs_completed} complete epoch(s); the best model is kept.")
            else:
                status, message = RunStatus.FINISHED, (
                    f"finished {self.epochs_completed} epochs; validation accuracy "
                    f"{metrics.get('val_accuracy', float('nan')):.1%}.")
        except _Failure as failure:
            message = str(failure)
            metrics = self._salvage()
        except (ProjectError, RunFolderError, ResumeError, ValueError, OSError) as error:
            message = _sentence(str(error))
            metrics = self._salvage()
        except Exception as error:  # a crash must still leave a usable app and the best model
            message = _describe_unexpected(error)
            self.observer.on_log(traceback.format_exc())
            metrics = self._salvage()
        finally:
            self.in_scope.close()
            if self.writer is not None:
                self.writer.close()
            if self.tf_import is not None and self.tf_import.is_alive():
                self.tf_import.join()  # never leave a half-imported TensorFlow to the caller
        run_path = self.writer.path if self.writer else None
        if not self.chief:
            if run_path is not None:
                shutil.rmtree(run_path.parent, ignore_errors=True)
            if self._cache_override is None:
                os.environ.pop(CACHE_DIR_VARIABLE, None)
            else:
                os.environ[CACHE_DIR_VARIABLE] = self._cache_override
            run_path = None
            message = f"worker {self.distribution.worker if self.distribution else '?'}: {message} The chief " \
                      "writes the run folder."
        if run_path is not None:
            if status == RunStatus.FAILED and self.resume_from is None and self.epochs_completed == 0:
                # Failed before its model was built (and so before any epoch): nothing worth a place among
                # the earlier runs. A run that has a model (its last finite weights) keeps it, marked FAILED.
                if discard_run_folder(run_path):
                    message = f"{message.rstrip('.')}; nothing was trained, so no run folder was kept."
                    run_path = None
            if run_path is not None:
                self._write_status(status.value, message)
        val = metrics.get("val_accuracy") if metrics else None
        self.observer.on_train_end(TrainEnd(
            status=status, message=message, run_dir=str(run_path) if run_path else "",
            epochs_completed=self.epochs_completed, best_epoch=self.checkpoint.best_epoch if self.checkpoint else None,
            val_accuracy=val, val_loss=metrics.get("val_loss") if metrics else None,
            seconds=time.perf_counter() - self.started))
        return RunResult(status, message, run_path, metrics, self.history)

    # -- before the first step -------------------------------------------------------------

    def _choose_role(self, run_dir):
        """On a multi-worker run, whether this process is the chief (TF_CONFIG says so without TensorFlow):
        the other workers train in a temporary folder, removed at the end, and leave the caches alone."""
        training = self.project.training
        if training.strategy != "multi-worker" or self.resume_from is not None:
            return run_dir
        try:
            self.chief = is_chief(cluster_config())
        except DistributionError as error:
            raise _Failure(str(error)) from None
        if self.chief:
            return run_dir
        training.image_cache = False
        self.feature_store = None
        folder = Path(tempfile.mkdtemp(prefix="tlstudio-worker-"))
        # The scan's own cache too: this process is the worker's alone, and its cache goes with the folder.
        self._cache_override = os.environ.get(CACHE_DIR_VARIABLE)
        os.environ[CACHE_DIR_VARIABLE] = str(folder / "cache")
        return folder / "run"

    def _prepare(self, run_dir, runs_root) -> None:
        # TensorFlow takes seconds to import; let it load while the images are checked and decoded.
        # Joined before this thread imports anything of TensorFlow's: two threads importing its
        # package tree at once can deadlock in its circular imports.
        tf_import = self.tf_import = threading.Thread(
            target=importlib.import_module, args=("tensorflow",), daemon=True, name="tlstudio-import-tensorflow")
        if "tensorflow" not in sys.modules:
            tf_import.start()
        project = self.project

        def make_writer(classes: list[str]) -> RunFolderWriter:
            point = self.resume_from
            if point is None:
                self.writer = start_run_folder(project, classes, run_dir, runs_root)
            else:
                if list(classes) != list(point.classes):
                    raise _Failure(f"the data folder's classes changed since this run ({', '.join(classes)} "
                                   f"instead of {', '.join(point.classes)}); train a new run.")
                self.writer = RunFolderWriter(run_dir, keep_epochs=point.epochs_completed)
            self._write_status(RUNNING, "training")
            return self.writer

        try:
            if self.given_data is not None:  # prepared once for several runs (an optimizer race)
                self.data = self.given_data
                make_writer(self.data.classes)
            else:
                self.data = prepare_run(project, self.observer, self.stop_token, make_writer)
        except PrepareError as error:
            raise _Failure(str(error)) from None
        self.classes, self.image_size = self.data.classes, self.data.image_size
        self.x_train, self.y_train, self.x_val, self.y_val = (self.data.x_train, self.data.y_train,
                                                              self.data.x_val, self.data.y_val)
        if self.resume_from is not None and len(self.x_train) != self.resume_from.train_images:
            raise _Failure(f"the data folder changed since this run ({len(self.x_train)} training images instead "
                           f"of {self.resume_from.train_images}); train a new run.")

        if tf_import.is_alive():
            tf_import.join()
        try:
            self.distribution = distribution_for(project.training)
        except DistributionError as error:
            raise _Failure(str(error)) from None
        if project.optimizer.name in FULL_BATCH_OPTIMIZERS and self.distribution.replicas > 1:
            raise _Failure(f"L-BFGS fits the head on one device and the strategy runs {self.distribution.replicas} "
                           "replicas; choose another optimizer or the auto strategy.")
        # Model, optimizer, metrics, the feature-cache head and every model saved are made under the strategy.
        self.in_scope.enter_context(self.distribution.scope())
        self.built, self.compute = build_run_model(project, self.data, self.observer)
        self.model = self.built.model
        replicas = self.distribution.replicas
        self.device = self.compute.describe() + (f", {replicas} replicas" if replicas > 1 else "")

    # -- the phases ------------------------------------------------------------------------

    def _new_plan(self) -> list[PhasePlan]:
        training = self.project.training
        lr = self.project.optimizer.learning_rate
        spe = self.steps_per_epoch
        phases = [PhasePlan(1, 0, training.epochs, lr, "training the head, backbone frozen"
                            if training.fine_tune.enabled else "training", training.epochs * spe)]
        if training.fine_tune.enabled:
            phases.append(PhasePlan(2, training.epochs, training.epochs + training.fine_tune.epochs,
                                    lr * training.fine_tune.lr_factor,
                                    f"fine-tuning the top {training.fine_tune.unfreeze} backbone layers",
                                    training.fine_tune.epochs * spe))
        return phases

    def _pick_up(self, point: ResumePoint) -> None:
        """Counters, history and weights as they were after the point's last completed epoch."""
        if point.steps_per_epoch != self.steps_per_epoch:
            raise _Failure(f"this run took {point.steps_per_epoch} steps an epoch and would now take "
                           f"{self.steps_per_epoch} (the data or batch size changed); train a new run.")
        self.epochs_completed, self.global_step = point.epochs_completed, point.global_step
        self.history = [row for row in read_run(self.writer.path, steps=False).history
                        if row["epoch"] <= point.epochs_completed]
        try:
            self.model.set_weights(point.model_weights)
        except ValueError as error:
            raise _Failure(f"the saved weights do not fit the model this run's settings build ({error}); "
                           "train a new run.") from None
        self.checkpoint.restore(point.best_epoch, point.best_val_loss, point.best_weights, point.model_weights)
        total = point.total_epochs
        if point.continuations and point.continuations[-1]["after_epoch"] == point.epochs_completed:
            self.observer.on_log(f"continuing for {total - point.epochs_completed} more epoch(s) after epoch "
                                 f"{point.epochs_completed}, from its weights and optimizer state")
        else:
            self.observer.on_log(f"resuming at epoch {point.epochs_completed + 1} of {total}, from the state "
                                 f"saved after epoch {point.epochs_completed}")

    def _train(self) -> None:
        project = self.project
        batch_size = project.training.batch_size
        self.augmenter = make_augmenter(project.augment, seed=project.training.seed)
        self.full_batch = project.optimizer.name in FULL_BATCH_OPTIMIZERS
        # L-BFGS takes one full-batch step an iteration, and an iteration is what an epoch counts.
        self.steps_per_epoch = 1 if self.full_batch else steps_per_epoch(len(self.x_train), batch_size)
        self.plan = self.plan or self._new_plan()
        total_epochs = self.plan[-1].end_epoch
        self.total_steps = total_epochs * self.steps_per_epoch
        averaging = project.optimizer.ema and not self.full_batch
        self.checkpoint = Checkpoint(self.model, self.writer, averaged=self._averaged_weights if averaging else None)
        self.health = HealthCheck(len(self.classes))
        self._weigh_classes()
        point = self.resume_from
        if point is not None:
            self._pick_up(point)
        self.observer.on_train_begin(TrainBegin(
            run_dir=str(self.writer.path), classes=tuple(self.classes), train_images=len(self.x_train),
            val_images=len(self.x_val), epochs=total_epochs, steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps, batch_size=batch_size, device=self.device,
            image_size=self.image_size, backbone=project.model.backbone,
            epochs_done=self.epochs_completed, steps_done=self.global_step))
        self.observer.on_log(f"{len(self.x_train)} training and {len(self.x_val)} validation images, "
                             f"{len(self.classes)} classes, {self.image_size} px, on {self.device}")
        self.observer.on_log(f"strategy {self.distribution.describe(batch_size)}")
        if project.training.devices and project.training.strategy != "mirrored":
            self.observer.on_log(f"training.devices is ignored: only the mirrored strategy reads it (strategy is "
                                 f"{project.training.strategy})")

        for phase in self.plan:
            if self.stopped or self.nan_message:
                break
            if phase.end_epoch <= self.epochs_completed:
                continue  # done before this run was resumed
            self.phase_number = phase.number
            self.phase_plan = phase
            if phase.number == 2:
                unfreeze_top(self.built.backbone, project.training.fine_tune.unfreeze,
                             project.model.train_batchnorm)
            use_cache, cache_note = feature_cache_decision(project, self.built.backbone, phase.number)
            store_key = None
            if use_cache and self.augmenter is None and self.feature_store is not None:
                store_key = FeatureStore.key(project, self.x_train, self.x_val, self.data.images_key)
                if self.feature_store.has(store_key):
                    cache_note += "; read from disk, as an earlier run on the same data computed them"
            trainable, frozen = count_parameters(self.model)
            self.observer.on_phase_begin(PhaseBegin(
                phase=phase.number, first_epoch=phase.first_epoch + 1,
                first_step=phase.first_epoch * self.steps_per_epoch + 1,
                learning_rate=phase.base_lr, trainable_parameters=trainable, frozen_parameters=frozen,
                description=phase.description, feature_cache=use_cache, feature_cache_note=cache_note))
            self.observer.on_log(f"phase {phase.number}: {phase.description}; LR {phase.base_lr:g}, "
                                 f"{trainable:,} trainable and {frozen:,} frozen parameters")
            self.observer.on_log(f"feature cache {'in use' if use_cache else 'not used'}: {cache_note}")
            validation_head = None
            if (not use_cache and self.distribution.replicas == 1 and not project.optimizer.ema
                    and validation_cache_decision(project, self.built.backbone, phase.number)):
                validation_head = self._cached_validation_features()
            fit_model, train_ds, val_ds = (self._cached_feature_data(store_key) if use_cache else self._image_data())
            if validation_head is not None:
                val_ds = None  # validated on the cached features instead, by _FeatureValidation
            if self.distribution.replicas > 1:
                train_ds, val_ds = distributable(train_ds), distributable(val_ds)
            # The head's view of the validation set stays valid only while the backbone is unchanged.
            self.val_features = self.val_features if use_cache or validation_head is not None else None
            self.fit_samples = self._samples_per_batch(use_cache)
            self.fit_model = fit_model
            if self.full_batch:
                if not use_cache:
                    raise _Failure(f"L-BFGS fits the head on cached backbone features, which are not in use "
                                   f"({cache_note}); choose another optimizer.")
                self._fit_full_batch(phase, fit_model, total_epochs)
                continue
            callbacks = self._compile(phase, fit_model)
            first_epoch = max(phase.first_epoch, self.epochs_completed)
            if point is not None and point.phase == phase.number and first_epoch > phase.first_epoch:
                callbacks += self._restore_phase_state(point, fit_model)
            loss_guard, stop_check, event_relay = callback_classes()
            halt = Halt()
            relay = event_relay(self, halt, phase.number, total_epochs, batch_size, len(self.x_train))
            saver = _ResumeSaver(self, halt)
            first_callbacks = [] if validation_head is None else [_FeatureValidation(self, validation_head).callback()]
            # In this order: the guard sees a NaN first, the relay reports the batch, then a Stop ends the fit;
            # the state is saved last, once early stopping and the plateau reducer have had their say.
            fit_model.fit(train_ds, epochs=phase.end_epoch, initial_epoch=first_epoch,
                          steps_per_epoch=self.steps_per_epoch, validation_data=val_ds,
                          class_weight=self.class_weights,
                          callbacks=[*first_callbacks,
                                     loss_guard(halt, self._restore_last_finite, self.observer, self.health),
                                     relay,
                                     stop_check(halt, self.stop_token), *callbacks, saver.callback()],
                          shuffle=False, verbose=0)
            if halt.reason == "nan":
                self.nan_message = halt.message
            elif halt.reason == "stop":
                self.stopped = True
            elif relay.early_stopped:
                self.observer.on_log(f"early stopping: no val_loss improvement for "
                                     f"{project.training.early_stopping} epochs; phase {phase.number} ends")

    def _weigh_classes(self) -> None:
        """Class weights and balanced sampling, as the project asks; both log what they do."""
        training = self.project.training
        self._per_class_log = training.class_weights != "off" or training.balanced_sampling
        if training.class_weights == "balanced":
            self.class_weights = balanced_class_weights(self.y_train, len(self.classes))
            self.observer.on_log("class weights (balanced): " + ", ".join(
                f"{name} {self.class_weights[i]:.2f}" for i, name in enumerate(self.classes)))
        if training.balanced_sampling:
            self.observer.on_log(f"balanced sampling: each batch draws the {len(self.classes)} classes equally "
                                 "often")

    def _averaged_weights(self) -> list:
        """The whole model's weights with the optimizer's Polyak average in place of the trained ones.
        The same swap as Keras's SwapEMAWeights (whose private names it reads, as that callback does)."""
        optimizer = getattr(self.fit_model.optimizer, "inner_optimizer", self.fit_model.optimizer)
        trained = optimizer._trainable_variables
        raw = [variable.numpy() for variable in trained]
        for variable, average in zip(trained, optimizer._model_variables_moving_average, strict=True):
            variable.assign(average)
        weights = self.model.get_weights()
        for variable, value in zip(trained, raw, strict=True):
            variable.assign(value)
        return weights

    def _fit_full_batch(self, phase: PhasePlan, head, total_epochs: int) -> None:
        """L-BFGS on the cached features (train/lbfgs.py); each iteration is reported and recorded as an epoch
        of one step, checked for the best model and saved for resume like any epoch."""
        import keras

        from tlstudio.train.lbfgs import fit_head_lbfgs

        features, labels = self.train_arrays
        val_head, val_features = self.val_features
        num_classes = len(self.classes)
        cross_entropy = keras.losses.CategoricalCrossentropy(label_smoothing=self.project.model.label_smoothing)
        val_targets = keras.ops.one_hot(self.y_val, num_classes)
        first = max(phase.first_epoch, self.epochs_completed)
        started = last = time.perf_counter()
        self.observer.on_log(f"L-BFGS: fitting the head full-batch on {len(features)} feature vectors, at most "
                             f"{phase.end_epoch - first} iterations (dropout off; L2 {self.project.model.l2:g})")

        def on_iteration(iteration: int, loss: float, accuracy: float) -> bool:
            nonlocal last
            epoch = first + iteration
            now = time.perf_counter()
            seconds, last = now - last, now
            probabilities = val_head(val_features, training=False)
            val_loss = float(cross_entropy(val_targets, probabilities))
            val_accuracy = float(np.mean(np.argmax(probabilities, axis=1) == self.y_val)) if len(self.y_val) else 0.0
            self.global_step += 1
            self.add_step(self.global_step, epoch, loss, math.nan)
            rate = len(features) / max(seconds, 1e-9)
            eta = seconds * (phase.end_epoch - epoch)
            self.observer.on_train_batch_end(BatchEnd(step=self.global_step, epoch=epoch, batch=1, steps_in_epoch=1,
                                                      loss=loss, accuracy=accuracy, learning_rate=math.nan,
                                                      images_per_second=rate, phase=phase.number, eta_seconds=eta))
            row = {"epoch": epoch, "loss": loss, "accuracy": accuracy, "val_loss": val_loss,
                   "val_accuracy": val_accuracy, "lr": math.nan}
            is_best = self.epoch_completed(row)
            self.observer.on_epoch_end(EpochEnd(epoch=epoch, epochs=total_epochs, loss=loss, accuracy=accuracy,
                                                val_loss=val_loss, val_accuracy=val_accuracy, learning_rate=math.nan,
                                                seconds=seconds, images_per_second=rate, is_best=is_best,
                                                phase=phase.number, eta_seconds=eta))
            self.save_resume_point()
            if not math.isfinite(loss):
                self.nan_message = "the loss became NaN during L-BFGS; the last finite weights were kept."
                self._restore_last_finite()
                return False
            if self.stop_token.stop_requested:
                self.stopped = True
                return False
            return True

        report = fit_head_lbfgs(head, features, labels, num_classes, max_iterations=phase.end_epoch - first,
                                label_smoothing=self.project.model.label_smoothing, on_iteration=on_iteration)
        self.observer.on_log(f"L-BFGS: {report.iterations} iterations in {time.perf_counter() - started:.1f} s; "
                             f"{'converged' if report.converged else 'stopped'} ({report.message})")

    def _restore_last_finite(self) -> None:
        self.model.set_weights(self.checkpoint.last_finite_weights)

    def _restore_phase_state(self, point: ResumePoint, fit_model) -> list:
        """Put the optimizer's state (its step counter drives the LR schedule) and the callbacks' back as
        they were after the point's epoch; returns a callback that restores the callbacks' own counters
        once Keras has reset them at the start of fit()."""
        assign_optimizer_variables(fit_model.optimizer, fit_model.trainable_variables, point.optimizer_variables)
        state = point.callbacks
        if "plateau" in state and self.schedule is not None:
            self.schedule.scale.assign(float(state["plateau"]["scale"]))
        phase = point.phase_plan(point.phase)
        step = self.global_step - phase.first_epoch * self.steps_per_epoch
        settings = self.project.schedule
        lr = float(schedules.lr_at(float(step), settings, phase.base_lr, self.steps_per_epoch, phase.schedule_steps))
        lr *= float(state.get("plateau", {}).get("scale", 1.0))
        self.observer.on_log(f"the LR schedule goes on at step {step + 1} of the phase: LR {lr:.3g}")
        if lr <= phase.base_lr * 1e-6:
            self.observer.on_log(f"warning: the {settings.name} schedule has already brought the LR down "
                                 "to zero, so more epochs will not change the model; train a new run with a "
                                 "schedule that keeps a floor (min LR fraction) or more epochs.")
        import keras

        def restore(_logs=None):
            for callback in self._phase_callbacks:
                key = "plateau" if hasattr(callback, "schedule") else "early_stopping"
                if key in state:
                    callback.wait = int(state[key]["wait"])
                    best = state[key]["best"]
                    if best is not None:
                        callback.best = float(best)
                    elif key == "plateau":
                        callback.best = math.inf
        return [keras.callbacks.LambdaCallback(on_train_begin=restore)]

    def phase_callback_state(self) -> dict:
        """Early stopping's and the plateau reducer's counters now (for resume.npz)."""
        state = {}
        for callback in self._phase_callbacks:
            best = getattr(callback, "best", None)
            best = float(best) if best is not None and math.isfinite(float(best)) else None
            if hasattr(callback, "schedule"):
                state["plateau"] = {"wait": int(callback.wait), "best": best,
                                    "scale": float(np.asarray(callback.schedule.scale.numpy()))}
            else:
                state["early_stopping"] = {"wait": int(callback.wait), "best": best}
        return state

    def save_resume_point(self) -> None:
        """resume.npz after a completed epoch (called once early stopping and the plateau have updated)."""
        checkpoint = self.checkpoint
        averaged = checkpoint.averaged is not None  # the best are the average, never the raw weights
        best = (checkpoint.best_weights if averaged or checkpoint.best_epoch not in (None, self.epochs_completed)
                else None)
        previous = self.resume_from
        ResumePoint(
            epochs_completed=self.epochs_completed, global_step=self.global_step,
            steps_per_epoch=self.steps_per_epoch, train_images=len(self.x_train), classes=list(self.classes),
            phase=self.phase_number, phases=self.plan, best_epoch=checkpoint.best_epoch,
            best_val_loss=checkpoint.best_val_loss if math.isfinite(checkpoint.best_val_loss) else None,
            callbacks=self.phase_callback_state(),
            continuations=previous.continuations if previous else [],
            model_weights=checkpoint.last_finite_weights,
            optimizer_variables=([] if self.full_batch else
                                 [np.asarray(v.numpy()) for v in self.fit_model.optimizer.variables]),
            best_weights=best,
        ).save(self.writer.path)

    def _image_data(self):
        from tlstudio.data.pipeline import evaluation_dataset, training_dataset  # lazy: imports TensorFlow

        training = self.project.training
        num_classes = len(self.classes)
        train_ds = training_dataset(self.x_train, self.y_train, num_classes, training.batch_size,
                                    seed=training.seed, balanced=training.balanced_sampling)
        val_ds = evaluation_dataset(self.x_val, self.y_val, num_classes, training.batch_size)
        if self.augmenter is None:
            return self.model, train_ds, val_ds
        import keras

        # Augmentation in the training step's graph, in a wrapper model used only for fit(): it runs on
        # the model's device (a GPU, where there is one, instead of the CPU feeding it), and Keras passes
        # training=False to it in validation. Only `self.model` is ever saved or exported (docs/stack-notes.md #2).
        inputs = keras.Input(shape=self.model.input_shape[1:], dtype="float32", name="image")
        return keras.Model(inputs, self.model(self.augmenter(inputs)), name="training_model"), train_ds, val_ds

    def _cached_feature_data(self, store_key: str | None):
        """Backbone features of every image, computed once (or read from the FeatureStore under `store_key`,
        where an earlier run left them); the head trains on them."""
        from tlstudio.data.pipeline import (  # lazy: imports TensorFlow
            feature_evaluation_dataset,
            feature_training_dataset,
        )

        training = self.project.training
        feature_head = FeatureHead.split(self.model)
        copies = max(1, training.augmented_copies) if self.augmenter is not None else 1
        total = len(self.x_train) * copies + len(self.x_val)
        started = time.perf_counter()
        try:
            train_features, val_features, from_disk = compute_features(
                feature_head, self.x_train, self.x_val, batch_size=training.batch_size, augment=self.augmenter,
                copies=copies, store=self.feature_store, key=store_key, task=self.stop_token,
                runtime=training.feature_runtime, log=self.observer.on_log,
                progress=lambda done, of: self.observer.on_prepare(
                    PrepareProgress("computing backbone features", done, of)))
        except Cancelled:
            raise _Failure("stopped while computing backbone features; nothing was trained.") from None
        if from_disk:
            self.observer.on_log(f"feature cache: backbone features of {total} images read from disk in "
                                 f"{time.perf_counter() - started:.2f} s (an earlier run on the same data "
                                 "computed them)")
        else:
            self.observer.on_log(f"backbone features of {total} images computed in "
                                 f"{time.perf_counter() - started:.1f} s")
        self.val_features = (feature_head.head, val_features)
        labels = np.tile(self.y_train, copies)
        self.train_arrays = (train_features, labels)
        num_classes = len(self.classes)
        train_ds = feature_training_dataset(train_features, labels, num_classes, training.batch_size,
                                            seed=training.seed, copies=copies, balanced=training.balanced_sampling)
        val_ds = feature_evaluation_dataset(val_features, self.y_val, num_classes, training.batch_size)
        return feature_head.head, train_ds, val_ds

    def _cached_validation_features(self):
        """The validation images' backbone features, once, for a frozen backbone trained on augmented images;
        returns the head, compiled to report what fit()'s validation would (loss and metrics)."""

        training = self.project.training
        feature_head = FeatureHead.split(self.model)
        started = time.perf_counter()
        try:
            _, val_features, _ = compute_features(
                feature_head, self.x_train[:0], self.x_val, batch_size=training.batch_size, task=self.stop_token,
                runtime=training.feature_runtime, log=self.observer.on_log,
                progress=lambda done, of: self.observer.on_prepare(
                    PrepareProgress("computing validation features", done, of)))
        except Cancelled:
            raise _Failure("stopped while computing backbone features; nothing was trained.") from None
        self.observer.on_log(f"validation on cached features: the {len(self.x_val)} validation images are never "
                             f"augmented and the backbone is frozen, so their features were computed once "
                             f"({time.perf_counter() - started:.1f} s) and each epoch validates the head on them")
        self.val_features = (feature_head.head, val_features)
        head = feature_head.head
        head.compile(**self._loss_and_metrics())
        return head

    def _samples_per_batch(self, use_cache: bool):
        """Images in each batch of an epoch: full batches, then whatever is left (or always full)."""
        batch_size, n = self.project.training.batch_size, len(self.x_train)
        if self.project.training.balanced_sampling:
            return lambda batch: batch_size  # balanced batches are always full
        always_full = use_cache and self.augmenter is not None and self.project.training.augmented_copies > 1
        if always_full and n * self.project.training.augmented_copies >= batch_size:
            return lambda batch: batch_size
        return lambda batch: max(1, min(batch_size, n - batch * batch_size))

    def _loss_and_metrics(self) -> dict:
        """compile()'s loss and metrics: what every epoch reports, in training and in validation."""
        import keras

        return {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=self.project.model.label_smoothing),
                "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy"),
                            *(class_recall_metrics(len(self.classes)) if self._per_class_log else [])]}

    def _compile(self, phase: PhasePlan, fit_model) -> list:
        import keras

        project = self.project
        # The schedule spans the phase as first planned: epochs added by continuing go on along it.
        self.schedule = schedules.make_keras_schedule(project.schedule, phase.base_lr, self.steps_per_epoch,
                                                      phase.schedule_steps)
        optimizer = make_optimizer(project.optimizer, self.schedule)
        # Recompile after every change to `trainable` (docs/stack-notes.md #1); a fresh optimizer per phase.
        fit_model.compile(
            optimizer=optimizer,
            jit_compile=self.compute.jit_compile,
            **self._loss_and_metrics(),
        )
        callbacks = []
        if project.schedule.name == "plateau":
            callbacks.append(schedules.make_plateau_reducer(self.schedule, project.schedule))
        if project.training.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=project.training.early_stopping, restore_best_weights=False))
        self._phase_callbacks = list(callbacks)
        if project.optimizer.ema:
            # Validation runs on the Polyak average (the model the run keeps), training on the raw weights.
            callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=False))
        if project.training.tensorboard:
            # One log folder for every phase (and every resume or continuation): Keras numbers the epochs
            # from initial_epoch, so the curves go on. No graph, no histograms: epoch scalars only.
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(self.writer.path / TENSORBOARD_FOLDER),
                                                         write_graph=False, update_freq="epoch"))
        return callbacks

    # -- after the last step ---------------------------------------------------------------

    def _finish(self) -> dict[str, Any]:
        self.checkpoint.keep_best()
        return self._write_metrics()

    def _salvage(self) -> dict[str, Any]:
        """After a failure: make sure the best model so far is on disk, with its metrics."""
        if self.checkpoint is None:
            return {}
        try:
            return self._finish()
        except Exception as error:  # the original failure is what the user needs to read
            self.observer.on_log(f"could not save the model after the failure: {error}")
            return {}

    def _write_metrics(self) -> dict[str, Any]:
        probabilities = self._validation_probabilities()
        metrics = classification_metrics(self.y_val, probabilities, self.classes)
        wanted = self.project.training.snapshot_ensemble
        snapshot = (Snapshots(self.writer.path, self.project.schedule, self.observer).ensemble(
            wanted, self.x_val, len(self.classes), self.writer.save_model) if wanted else None)
        if snapshot is not None:
            best_model = metrics["val_accuracy"]
            metrics = classification_metrics(self.y_val, snapshot[0], self.classes)
            metrics["ensemble"] = {**snapshot[1], "best_single_model_val_accuracy": best_model}
        ema = self._averaging_effect()
        if ema:
            metrics["ema"] = ema
        metrics.update({
            "best_epoch": self.checkpoint.best_epoch,
            "epochs_completed": self.epochs_completed,
            "train_images": int(len(self.x_train)),
            "val_images": int(len(self.x_val)),
            "image_size": self.image_size,
            "resize": self.project.data.resize,
            "backbone": self.project.model.backbone,
            "seconds": round(time.perf_counter() - self.started, 2),
        })
        self.writer.write_metrics(metrics)
        return metrics

    def _averaging_effect(self) -> dict[str, Any] | None:
        """With Polyak averaging: the last epoch's validation accuracy with the average and with the raw
        weights (what the Run page shows); the model is left with the weights it had."""
        checkpoint = self.checkpoint
        if checkpoint is None or checkpoint.averaged is None or checkpoint.last_averaged_weights is None:
            return None
        kept = self.model.get_weights()
        accuracy = {}
        for key, weights in (("averaged", checkpoint.last_averaged_weights), ("raw", checkpoint.last_finite_weights)):
            self.model.set_weights(weights)
            predicted = self._validation_probabilities().argmax(axis=1)
            accuracy[key] = float((predicted == self.y_val).mean()) if len(self.y_val) else float("nan")
        self.model.set_weights(kept)
        return {"decay": self.project.optimizer.ema, "epoch": self.epochs_completed,
                "val_accuracy_averaged": accuracy["averaged"], "val_accuracy_raw": accuracy["raw"]}

    def _validation_probabilities(self) -> np.ndarray:
        """The restored model's answers on the validation images; from cached features when it has them."""
        if self.val_features is not None:
            model, inputs = self.val_features
        else:
            model, inputs = self.model, self.x_val
        infer = inference_function(model, inputs.shape[1:], inputs.dtype)  # one trace for every batch size
        return predict_in_batches(lambda batch: infer(batch).numpy(), inputs, len(self.classes))

    # -- called by the event relay ---------------------------------------------------------

    def snapshot_if_cycle_end(self) -> None:
        """With cosine restarts: keep the model (the weights the run keeps: the Polyak average when on) at the
        epoch that ends an LR cycle (train/snapshots.py)."""
        phase = self.phase_plan
        if phase is None or not self.history:
            return
        Snapshots(self.writer.path, self.project.schedule, self.observer).keep_if_cycle_ends(
            self.epochs_completed, self.epochs_completed - phase.first_epoch, self.steps_per_epoch,
            phase.schedule_steps, self.history[-1], self.checkpoint.save_last)

    def _write_status(self, status: str, message: str) -> None:
        try:
            self.writer.write_status(status, message)
        except OSError as error:  # the run goes on; only its status line is missing
            self.observer.on_log(f"could not write status.json: {error}")

    def add_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self.writer.add_step(step, epoch, loss, lr)

    def epoch_completed(self, row: dict[str, float]) -> bool:
        """Record a complete epoch; returns whether it is the best so far."""
        self.history.append(row)
        self.writer.add_epoch(row)
        self.epochs_completed += 1
        for warning in self.health.epoch(row):
            self.observer.on_log(f"warning: {warning}")
        return self.checkpoint.epoch_completed(int(row["epoch"]), row["val_loss"])


class _ResumeSaver:
    """The last callback of a fit: resume.npz after every completed epoch (never after a halted one)."""

    def __init__(self, run: _Run, halt: Halt) -> None:
        self.run, self.halt = run, halt

    def callback(self):
        import keras

        def on_epoch_end(_epoch, _logs=None):
            if not self.halt.halted:
                self.run.save_resume_point()
                self.run.snapshot_if_cycle_end()

        return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


class _FeatureValidation:
    """Puts the head's loss and metrics on the cached validation features into each epoch's logs, as fit()'s
    own validation would (val_loss, val_accuracy, ...); first among the callbacks, so every other one (the
    relay, early stopping, the plateau reducer, the checkpoint, History) sees them."""

    def __init__(self, run: _Run, head) -> None:
        from tlstudio.data.pipeline import feature_evaluation_dataset  # lazy: imports TensorFlow

        features = run.val_features[1]
        self.head = head
        self.dataset = feature_evaluation_dataset(features, run.y_val, len(run.classes),
                                                  run.project.training.batch_size)

    def callback(self):
        import keras

        def on_epoch_end(_epoch, logs=None):
            if logs is None:
                return
            results = self.head.evaluate(self.dataset, verbose=0, return_dict=True)
            logs.update({f"val_{name}": float(value) for name, value in results.items()})

        return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def _describe_unexpected(error: Exception) -> str:
    name = type(error).__name__
    if name == "ResourceExhaustedError" or isinstance(error, MemoryError):
        return "out of memory; lower the batch size or the image size and train again."
    text = str(error).strip().splitlines()[0] if str(error).strip() else name
    return f"training failed: {name}: {text[:300]} (details in the log)."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
