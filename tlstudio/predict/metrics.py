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
    """Accuracy, top-k accuracy, cross-entropy, expected calibration error (val_ece), per-class
    precision/recall/F1/support, confusion matrix."""
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
        "val_ece": expected_calibration_error(y_true, probabilities) if len(y_true) else 0.0,
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


# -- calibration --------------------------------------------------------------------------------------------
# A model that says "97 %" should be right about 97 % of the time when it says so. The expected calibration
# error (Guo et al. 2017) bins the predictions by confidence and averages |accuracy - confidence| over the
# bins, weighted by how many predictions each holds.

CALIBRATION_BINS = 15  # Guo et al.'s choice


def reliability_bins(y_true: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Per confidence bin (equal widths over 0..1): the bin edges, the predictions it holds, their mean
    confidence and their accuracy (0 where the bin is empty) — what a reliability diagram draws."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence = probabilities.max(axis=1) if len(y_true) else np.zeros(0)
    correct = (probabilities.argmax(axis=1) == y_true) if len(y_true) else np.zeros(0, bool)
    # Bins are (low, high]; a confidence of exactly 0 cannot happen with a softmax over 2+ classes.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(counts > 0, np.bincount(which, confidence, bins) / counts, 0.0)
        accuracy = np.where(counts > 0, np.bincount(which, correct.astype(float), bins) / counts, 0.0)
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist(),
            "confidence": mean_confidence.tolist(), "accuracy": accuracy.tolist()}


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE: sum over confidence bins of (share of predictions) x |accuracy - mean confidence|; 0 is perfect."""
    table = reliability_bins(y_true, probabilities, bins)
    counts = np.asarray(table["counts"], dtype=float)
    if not counts.sum():
        return 0.0
    gaps = np.abs(np.asarray(table["accuracy"]) - np.asarray(table["confidence"]))
    return float((counts * gaps).sum() / counts.sum())
