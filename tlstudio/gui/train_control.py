"""The window's train control: whether Train is allowed, Train and Stop, the queue of runs waiting
their turn, resuming and continuing runs, the end of a run, and the offline backbones offered when
ImageNet weights could not be had.

A mixin of MainWindow: it uses the window's project, dataset, session and pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QTimer, Slot

from tlstudio.backbones.registry import get_backbone
from tlstudio.backbones.weight_sources import imagenet_availability, offline_alternatives
from tlstudio.gui.panels.weights_chooser import use_pretrained
from tlstudio.runs.folder import new_run_dir
from tlstudio.settings.project import Project
from tlstudio.train.events import RunResult, RunStatus
from tlstudio.train.readiness import training_blocker


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting for the one before it: new settings, or an earlier run to resume or continue."""

    label: str
    project: Project | None = None  # a new run with these settings
    run_dir: Path | None = None  # resume (more_epochs 0) or continue this run
    more_epochs: int = 0


class TrainControl:
    """Train, Stop, the queue and what follows a run, for MainWindow."""

    def train_blocker(self) -> str | None:
        """Why Train is disabled right now, or None. A run in progress does not block it: Train then
        queues the settings. Training runs in its own process, so the app's own TensorFlow (for Try it,
        Evaluate and Export) need not have loaded."""
        if self.tensorflow.error:
            return f"TensorFlow could not be loaded: {self.tensorflow.error}"
        # The data's own state (scanning, errors, split) first, then the project's core checks.
        return self.dataset.blocking_reason() or training_blocker(self.project.project)

    @Slot()
    def _update_train_state(self, *_: object) -> None:
        reason = self.train_blocker()
        running = self.session.running
        self.train_action.setEnabled(reason is None)
        self.train_action.setText("Queue" if running else "Train")
        self.stop_action.setEnabled(running)
        if self.session.stop_requested:
            self.stop_action.setText("End now")
            self.stop_action.setToolTip("End the training process now; the completed epochs and the best "
                                        "model so far are kept (Esc)")
        else:
            self.stop_action.setText("Stop")
            self.stop_action.setToolTip("Stop after the current batch and keep the best model (Esc)")
        if reason is None:
            project = self.project.project
            spec = get_backbone(project.model.backbone)
            what = (f"{len(self.dataset.index.classes)} classes, {self.dataset.train_count} training "
                    f"images, {spec.label} at {project.model.resolved_image_size} px.")
            if running:
                text = f"Training. Queue a run with the current settings: {what}"
                self.train_action.setToolTip("Queue a run with these settings; it starts when this one ends "
                                             "(Ctrl+Return)")
            else:
                text = f"Ready: {what}"
                self.train_action.setToolTip("Train with these settings (Ctrl+Return)")
        else:
            text = ("Training. " if running else "") + reason
            self.train_action.setToolTip(f"Train (Ctrl+Return) — {reason}")
        self.run_page.set_readiness(text, reason is None)
        self.run_page.set_device(self.tensorflow.device)
        self._refresh_steps()

    @Slot()
    def start_training(self) -> bool:
        """Snapshot the Project and train it in a worker process, or queue it behind the run in progress;
        False when Train is blocked."""
        reason = self.train_blocker()
        if reason is not None:
            self.statusBar().showMessage(f"Cannot train yet: {reason}", 6000)
            return False
        snapshot = self.project.snapshot()
        if self.session.running:
            spec = get_backbone(snapshot.model.backbone)
            self._enqueue(QueuedRun(f"{spec.label} · {snapshot.optimizer.name} LR "
                                    f"{snapshot.optimizer.learning_rate:g} · {snapshot.training.epochs} epochs",
                                    project=snapshot))
            return True
        self._start_new(snapshot)
        return True

    def _start_new(self, snapshot: Project) -> None:
        run_dir = new_run_dir(self.history.root, snapshot.model.backbone)
        self.message_bar.dismiss()
        self.show_page("run")
        self.run_page.begin_run(run_dir)
        self.session.start(snapshot, run_dir)

    def resume_run(self, run_dir: Path, more_epochs: int = 0) -> None:
        """Finish an interrupted run (`more_epochs` 0) or train it `more_epochs` more; queued when busy."""
        run_dir = Path(run_dir)
        if self.session.running:
            what = f"{more_epochs} more epochs of" if more_epochs else "resume"
            self._enqueue(QueuedRun(f"{what} {run_dir.name}", run_dir=run_dir, more_epochs=more_epochs))
            return
        self.message_bar.dismiss()
        self.show_page("run")
        self.run_page.begin_run(run_dir, continuing=True)
        self.session.resume(run_dir, more_epochs)

    def _enqueue(self, queued: QueuedRun) -> None:
        self.queue.append(queued)
        self.run_page.set_queue([q.label for q in self.queue])
        self.run_page.append_log(f"queued ({len(self.queue)} waiting): {queued.label}")
        self.statusBar().showMessage(f"Queued: {queued.label}. It starts when the current run ends.", 5000)

    def remove_queued(self, row: int) -> None:
        if 0 <= row < len(self.queue):
            removed = self.queue.pop(row)
            self.run_page.append_log(f"removed from the queue: {removed.label}")
            self.run_page.set_queue([q.label for q in self.queue])

    def _start_next_queued(self) -> None:
        if self.session.running or not self.queue or self._closing:
            return
        queued = self.queue.pop(0)
        self.run_page.set_queue([q.label for q in self.queue])
        if queued.project is not None:
            self._start_new(queued.project)
        else:
            self.resume_run(queued.run_dir, queued.more_epochs)

    @Slot()
    def stop_training(self) -> None:
        """Stop the run after its batch; pressed again, end its process now."""
        if not self.session.running:
            return
        if not self.session.stop_requested:
            self.session.stop()
            self.run_page.append_log("stop requested: finishing the current batch… (press again to end it now)")
            self.statusBar().showMessage("Stopping after the current batch…", 4000)
        else:
            self.run_page.append_log("ending the training process now")
            self.session.kill()
        self._update_train_state()

    @Slot(object)
    def _on_training_finished(self, outcome: RunResult) -> None:
        self.history.refresh()
        if outcome.status == RunStatus.FAILED:
            self.show_error(f"Training failed: {outcome.message}", self.offline_backbone_offers())
        elif outcome.status == RunStatus.STOPPED:
            self.show_info(f"Training stopped: {outcome.message}")
        else:
            self.show_info(f"Training finished: {outcome.message}")
        self._update_train_state()
        self.training_finished.emit(outcome)
        if self.queue:
            QTimer.singleShot(0, self._start_next_queued)

    def train_when_ready(self) -> None:
        """Start training as soon as the data has been scanned (`tlstudio gui PROJECT --train`)."""
        self._train_when_ready = True
        self.demo_opened.connect(self._try_training_when_ready)
        self.dataset.state_changed.connect(self._try_training_when_ready)
        QTimer.singleShot(0, self._try_training_when_ready)

    @Slot()
    def _try_training_when_ready(self) -> None:
        if not self._train_when_ready or self._closing:
            return
        not_scanned = (self.project.project.data.folder and self.dataset.index is None
                       and not self.dataset.error)
        if self._demo.busy or self.dataset.scanning or not_scanned:
            return  # the demo is being made, or the data not scanned yet
        self._train_when_ready = False
        self.dataset.state_changed.disconnect(self._try_training_when_ready)
        self.demo_opened.disconnect(self._try_training_when_ready)
        reason = self.train_blocker()
        if reason is not None:
            self.show_error(f"Cannot start training: {reason}")
        else:
            self.start_training()

    @Slot(str)
    def _on_tensorflow_loaded(self, device: str) -> None:
        self.engine_label.setText(f"TensorFlow ready · {device}")
        self._update_train_state()

    @Slot(str)
    def _on_tensorflow_failed(self, message: str) -> None:
        self.engine_label.setText("TensorFlow failed to load")
        self.show_error(f"TensorFlow could not be loaded, so training is unavailable: {message}")
        self._update_train_state()

    def start_loading_tensorflow(self) -> None:
        """Import TensorFlow in the background; call after the window is shown."""
        self.engine_label.setText("loading TensorFlow…")
        self.tensorflow.start()

    def offline_backbone_offers(self) -> list[tuple[str, Callable[[], object]]]:
        """"Use <backbone>" fixes when the chosen ImageNet weights can't be had without the network."""
        model = self.project.project.model
        spec = get_backbone(model.backbone)
        if model.weights != "imagenet" or imagenet_availability(spec, model.resolved_image_size).ready:
            return []
        return [(f"Use {alternative.label}", partial(self.use_backbone, alternative.name))
                for alternative in offline_alternatives(exclude=spec.name)]

    def use_backbone(self, name: str) -> None:
        """Switch to the backbone `name` with its ImageNet weights and default input size."""
        if use_pretrained(self.project, name) is None:
            self.show_info(f"Backbone: {get_backbone(name).label} with ImageNet weights; press Train.")
