"""The window's train control: whether Train is allowed, Train and Stop, the end of a run, and the
offline backbones offered when ImageNet weights could not be had.

A mixin of MainWindow: it uses the window's project, dataset, session and pages.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Slot

from tlstudio.gui.weights_chooser import use_pretrained
from tlstudio.registry import get_backbone
from tlstudio.runs import new_run_dir
from tlstudio.train.events import RunResult, RunStatus
from tlstudio.train.readiness import training_blocker
from tlstudio.weight_sources import imagenet_availability, offline_alternatives


class TrainControl:
    """Train, Stop and what follows, for MainWindow."""

    def train_blocker(self) -> str | None:
        """Why Train is disabled right now, or None."""
        if self.session.running:
            return "Training…"
        if self.tensorflow.error:
            return f"TensorFlow could not be loaded: {self.tensorflow.error}"
        if not self.tensorflow.ready:
            return "loading TensorFlow…"
        # The data's own state (scanning, errors, split) first, then the project's core checks.
        return self.dataset.blocking_reason() or training_blocker(self.project.project)

    @Slot()
    def _update_train_state(self, *_: object) -> None:
        reason = self.train_blocker()
        running = self.session.running
        self.train_action.setEnabled(reason is None)
        self.stop_action.setEnabled(running and not self.session.stop_requested)
        if reason is None:
            project = self.project.project
            spec = get_backbone(project.model.backbone)
            text = (f"Ready: {len(self.dataset.index.classes)} classes, {self.dataset.train_count} training "
                    f"images, {spec.label} at {project.model.resolved_image_size} px.")
            self.train_action.setToolTip("Train with these settings (Ctrl+Return)")
        else:
            text = reason
            self.train_action.setToolTip(f"Train (Ctrl+Return) — {reason}")
        self.run_page.set_readiness(text, reason is None)
        self.run_page.set_device(self.tensorflow.device)
        self._refresh_steps()

    @Slot()
    def start_training(self) -> bool:
        """Snapshot the Project and train it in the worker thread; False when Train is blocked."""
        reason = self.train_blocker()
        if reason is not None:
            if not self.session.running:
                self.statusBar().showMessage(f"Cannot train yet: {reason}", 6000)
            return False
        snapshot = self.project.snapshot()
        run_dir = new_run_dir(self.history.root, snapshot.model.backbone)
        self.message_bar.dismiss()
        self.show_page("run")
        self.run_page.begin_run(run_dir)
        self.session.start(snapshot, run_dir)
        return True

    @Slot()
    def stop_training(self) -> None:
        if self.session.running and not self.session.stop_requested:
            self.session.stop()
            self.run_page.append_log("stop requested: finishing the current batch…")
            self.statusBar().showMessage("Stopping after the current batch…", 4000)
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
