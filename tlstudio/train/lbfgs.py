"""L-BFGS for the head: a second-order (quasi-Newton) fit of the classifier on cached backbone features.

With the backbone frozen, training is a small, smooth, full-batch problem: the cross-entropy of a
linear layer (plus its L2) over a few thousand feature vectors. That is what L-BFGS is for. SciPy's
`L-BFGS-B` does the iterations; TensorFlow gives it the exact full-batch loss and gradient through
one traced function. Dropout is off while it fits (a noisy objective breaks the line search); L2 and
label smoothing are the run's own. Each iteration is reported like an epoch of one step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class LBFGSReport:
    iterations: int
    converged: bool
    message: str


class _Stopped(Exception):
    """Raised from SciPy's callback to end the iterations when `on_iteration` says stop."""


def fit_head_lbfgs(head, features: np.ndarray, labels: np.ndarray, num_classes: int, *, max_iterations: int,
                   label_smoothing: float = 0.0,
                   on_iteration: Callable[[int, float, float], bool] | None = None) -> LBFGSReport:
    """Fit `head`'s trainable weights full-batch with L-BFGS. `on_iteration(i, loss, accuracy)` after each
    iteration (1-based, on the training features) returns False to stop. The head keeps its weights at the
    last iteration."""
    import keras
    import tensorflow as tf
    from scipy.optimize import minimize

    variables = head.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(shape)) for shape in shapes]
    x = tf.constant(np.asarray(features, np.float32))
    y = tf.one_hot(tf.constant(np.asarray(labels, np.int32)), num_classes)
    cross_entropy = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)

    def assign(flat: np.ndarray) -> None:
        offset = 0
        for variable, shape, size in zip(variables, shapes, sizes, strict=True):
            variable.assign(flat[offset:offset + size].reshape(shape).astype(np.float32))
            offset += size

    @tf.function
    def loss_and_gradient():
        with tf.GradientTape() as tape:
            probabilities = head(x, training=False)
            loss = cross_entropy(y, probabilities) + tf.add_n([0.0, *head.losses])
        gradients = tape.gradient(loss, variables)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(probabilities, -1), tf.argmax(y, -1)), tf.float32))
        return loss, gradients, accuracy

    latest: dict[str, float] = {}

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        assign(flat)
        loss, gradients, accuracy = loss_and_gradient()
        latest.update(loss=float(loss), accuracy=float(accuracy))
        return float(loss), np.concatenate([g.numpy().ravel() for g in gradients]).astype(np.float64)

    count = 0

    def callback(flat: np.ndarray) -> None:
        nonlocal count
        count += 1
        assign(flat)
        loss, _, accuracy = loss_and_gradient()
        if on_iteration is not None and on_iteration(count, float(loss), float(accuracy)) is False:
            raise _Stopped()

    start = np.concatenate([v.numpy().ravel() for v in variables]).astype(np.float64)
    try:
        result = minimize(objective, start, jac=True, method="L-BFGS-B", callback=callback,
                          options={"maxiter": int(max_iterations), "maxcor": 20})
    except _Stopped:
        return LBFGSReport(count, False, "stopped")
    assign(result.x)
    return LBFGSReport(count, bool(result.success), str(result.message))
