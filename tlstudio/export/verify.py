"""Verification: each exported file reloaded in its own runtime, run twice over the validation
images, timed, and judged against the Keras model's probabilities."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tlstudio.export.results import FormatResult
from tlstudio.predict.metrics import expected_calibration_error
from tlstudio.predict.predictor import PredictorError, open_runtime, predict_in_batches

# Float32 formats must give Keras's probabilities within this (measured: 2e-5 at most).
MAX_FLOAT_DIFF = 1e-4
# Quantized TFLite (float16, dynamic, int8) is judged by its top-1 class instead: it must keep the
# top-1 of every image whose Keras top-1 leads the runner-up by more than CLEAR_MARGIN, and agree
# on at least MIN_QUANTIZED_AGREEMENT of all images (near-ties may flip).
CLEAR_MARGIN = 0.3
MIN_QUANTIZED_AGREEMENT = 0.8
LATENCY_REPEATS = 10


def predict(call: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """``call`` over uint8 ``images`` in float32 batches; the probabilities stacked."""
    return predict_in_batches(lambda batch: call(batch.astype(np.float32)), images, 0)


def verify(result: FormatResult, path: Path, images: np.ndarray, expected: np.ndarray,
           labels: np.ndarray | None = None, calibrated: bool = False) -> None:
    """Reload ``path`` in its own runtime, run the images twice, and judge it against Keras. With the
    images' ``labels``, the format's expected calibration error is measured too; for a ``calibrated`` run
    (temperature folded into the model) a format that matches Keras gives the calibrated probabilities."""
    result.size_bytes = _disk_size(path)
    try:
        runtime = open_runtime(path, result.format)
    except PredictorError as error:
        result.ok, result.reason = False, str(error)
        return
    result.engine = runtime.engine
    first, second = predict(runtime, images), predict(runtime, images)
    result.images = len(images)
    result.deterministic = bool(np.array_equal(first, second) or np.abs(first - second).max() <= 1e-6)
    result.max_abs_diff = float(np.abs(first - expected).max()) if len(images) else 0.0
    agree = first.argmax(axis=1) == expected.argmax(axis=1)
    result.top1_agreement = float(agree.mean()) if len(images) else 1.0
    result.latency_ms = _latency_ms(runtime, images)
    result.ok, result.reason = _judge(result, agree, expected)
    if labels is not None and len(labels) == len(images):
        result.ece = expected_calibration_error(labels, first)
    result.calibrated = result.ok if calibrated else None


def _judge(result: FormatResult, agree: np.ndarray, expected: np.ndarray) -> tuple[bool, str]:
    """Float32 formats must match Keras within MAX_FLOAT_DIFF; quantized ones must keep the top-1
    class of every image Keras is sure about, and of at least MIN_QUANTIZED_AGREEMENT of all."""
    if not result.deterministic:
        return False, "gives different answers for the same images (random ops inside?)"
    if not np.isfinite(result.max_abs_diff):
        return False, "gives NaN or infinite probabilities"
    if result.quantize == "none":
        if result.max_abs_diff > MAX_FLOAT_DIFF:
            return False, (f"probabilities differ from Keras by up to {result.max_abs_diff:.2g} "
                           f"(> {MAX_FLOAT_DIFF:g})")
        return True, ""
    ordered = np.sort(expected, axis=1)
    sure = ordered[:, -1] - ordered[:, -2] > CLEAR_MARGIN if expected.shape[1] > 1 else np.ones(len(agree), bool)
    if (sure & ~agree).any():
        return False, (f"changes the top-1 class of {int((sure & ~agree).sum())} image(s) the Keras model is "
                       f"sure about (margin > {CLEAR_MARGIN:g})")
    if result.top1_agreement < MIN_QUANTIZED_AGREEMENT:
        return False, f"top-1 agreement {result.top1_agreement:.0%} is below {MIN_QUANTIZED_AGREEMENT:.0%}"
    return True, ""


def _latency_ms(runtime, images: np.ndarray) -> float | None:
    """Median time of one single-image call, after a warm-up call."""
    if not len(images):
        return None
    one = images[:1].astype(np.float32)
    runtime(one)
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        runtime(one)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
