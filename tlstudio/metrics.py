"""Classification metrics from predicted probabilities: accuracy, top-k, per-class P/R/F1, confusion matrix.

Plain numpy, no TensorFlow: the trainer writes metrics.json with these, and the evaluation, the CLI
and the GUI read the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str],
                           top_k: int = 3) -> dict[str, Any]:
    """Accuracy, top-k accuracy, cross-entropy, per-class precision/recall/F1/support, confusion matrix."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = len(classes)
    y_pred = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_positive = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(support > 0, true_positive / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    k = min(top_k, num_classes)
    top = np.argsort(-probabilities, axis=1)[:, :k]
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-12, 1.0)
    n = max(len(y_true), 1)
    return {
        "val_accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        f"val_top{k}_accuracy": float((top == y_true[:, None]).any(axis=1).mean()) if len(y_true) else 0.0,
        "val_loss": float(-np.log(picked).sum() / n),
        "classes": list(classes),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "macro_f1": float(f1.mean()) if num_classes else 0.0,
        "confusion_matrix": matrix.tolist(),
    }


# -- evaluating a run folder ----------------------------------------------------------------------------
# The validation split is rebuilt exactly as the Trainer built it (same scan, val_split and seed),
# and predicted with the saved model.keras, so the numbers match the run's metrics.json.
