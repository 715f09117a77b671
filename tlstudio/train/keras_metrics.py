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


class ProbabilityCrossentropy(keras.losses.Loss):
    """Cross-entropy of softmax probabilities that keeps its gradient on every Keras backend.

    Keras's own loss clips probabilities to [1e-7, 1 - 1e-7] before the log, so an image the model is sure
    is another class (its probability under 1e-7) gives no gradient at all. On TensorFlow Keras sidesteps
    this by reading the logits behind the softmax (an attribute of TensorFlow tensors only); under JAX and
    PyTorch a head that starts confidently wrong stays stuck there (measured: a loss of exactly 16.1 / 3 for
    twelve epochs on the demo). Clipping only at float32's smallest normal number keeps the gradient for
    any logit gap up to about 87."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "categorical_crossentropy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        if self.label_smoothing:
            classes = ops.cast(ops.shape(y_true)[-1], "float32")
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        probabilities = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        return -ops.sum(y_true * ops.log(ops.clip(probabilities, 1.1754944e-38, 1.0)), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def cross_entropy(label_smoothing: float) -> keras.losses.Loss:
    """The run's loss: Keras's own on TensorFlow (which reads the logits behind the softmax), and one whose
    gradient survives confident mistakes on the other backends (ProbabilityCrossentropy)."""
    if keras.config.backend() == "tensorflow":
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    return ProbabilityCrossentropy(label_smoothing)


def reports_class_recall(project: Project) -> bool:
    """Per-class validation recall goes in the log when the run weighs its classes (class weights or
    balanced sampling): it shows what they do."""
    return project.training.class_weights != "off" or project.training.balanced_sampling


def compile_arguments(project: Project, num_classes: int) -> dict:
    """compile()'s loss and metrics: what every epoch reports, in training and in validation."""
    recalls = ([ClassRecall(class_id, name=f"recall_{class_id}") for class_id in range(num_classes)]
               if reports_class_recall(project) else [])
    return {"loss": cross_entropy(project.model.label_smoothing),
            "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy"), *recalls]}
