"""What every epoch of a run reports, in training and in validation: compile()'s loss and metrics, and the
per-class recall metric. A Keras module (it imports Keras at its top; light modules import it inside
functions)."""

from __future__ import annotations

import keras

from tlstudio.settings.project import Project


class ClassRecall(keras.metrics.Metric):
    """`recall_<i>`: of class i's images, the share predicted as it (arg max), unweighted, so the validation
    log can show what class weights or balanced sampling do per class."""

    def __init__(self, class_id: int, name: str | None = None, **kwargs) -> None:
        super().__init__(name=name or f"recall_{class_id}", **kwargs)
        self.class_id = int(class_id)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):  # noqa: ARG002 - recall counts images
        ops = keras.ops
        is_class = ops.cast(ops.equal(ops.argmax(y_true, axis=-1), self.class_id), "float32")
        predicted = ops.cast(ops.equal(ops.argmax(y_pred, axis=-1), self.class_id), "float32")
        self.hits.assign_add(ops.sum(is_class * predicted))
        self.count.assign_add(ops.sum(is_class))

    def result(self):
        return self.hits / keras.ops.maximum(self.count, 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id}


def reports_class_recall(project: Project) -> bool:
    """Per-class validation recall goes in the log when the run weighs its classes (class weights or
    balanced sampling): it shows what they do."""
    return project.training.class_weights != "off" or project.training.balanced_sampling


def compile_arguments(project: Project, num_classes: int) -> dict:
    """compile()'s loss and metrics: what every epoch reports, in training and in validation."""
    recalls = ([ClassRecall(class_id, name=f"recall_{class_id}") for class_id in range(num_classes)]
               if reports_class_recall(project) else [])
    return {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=project.model.label_smoothing),
            "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy"), *recalls]}
