"""Temperature scaling (Guo et al. 2017): one number T that softens (T > 1) or sharpens (T < 1) a model's
softmax, fitted on held-out logits, then folded into the model's output layer.

softmax(z / T) with z = x·W + b is softmax(x·(W/T) + b/T): dividing the output layer's kernel and bias by T
gives the calibrated probabilities with no extra layer, so the saved .keras file and every export made from
it (SavedModel, TFLite, ONNX) are calibrated, and the model keeps the layers the feature cache, Grad-CAM and
ensembles look for. The predicted class never changes (for an ensemble of heads it may, rarely).
"""

from __future__ import annotations

import numpy as np

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


class CalibrationError(ValueError):
    """The model or data cannot be calibrated; one sentence naming the fix."""


def softmax_heads(model) -> list:
    """The model's top-level Dense layers with a softmax: one for a run's model, one per member for an
    ensemble whose members share their backbone. CalibrationError when there is none."""
    import keras

    heads = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)
             and getattr(layer.activation, "__name__", "") == "softmax"]
    if not heads:
        raise CalibrationError(f"model {model.name!r} has no softmax output layer at its top level, so its "
                               "temperature cannot be set; calibrate the member runs instead.")
    return heads


def head_inputs_model(model, heads: list):
    """A Keras model from the image to what each softmax head receives (pooled features)."""
    import keras

    outputs = [head.input for head in heads]
    return keras.Model(model.inputs, outputs if len(outputs) > 1 else outputs[0], name="head_inputs")


def head_logits(heads: list, head_inputs: list[np.ndarray]) -> np.ndarray:
    """(heads, images, classes) logits: each head's x·W + b, before its softmax."""
    stacked = []
    for head, features in zip(heads, head_inputs, strict=True):
        weights = [np.asarray(w, np.float64) for w in head.get_weights()]
        logits = np.asarray(features, np.float64) @ weights[0]
        stacked.append(logits + weights[1] if head.use_bias else logits)
    return np.stack(stacked)


def tempered_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """The mean over heads of softmax(logits / T): (heads, n, classes) -> (n, classes)."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=-1, keepdims=True)).mean(axis=0)


def negative_log_likelihood(logits: np.ndarray, y_true: np.ndarray, temperature: float) -> float:
    probabilities = tempered_probabilities(logits, temperature)
    picked = probabilities[np.arange(len(y_true)), np.asarray(y_true, int)]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `y_true` (Guo et al.'s objective),
    searched on log T, so sharpening and softening are found alike."""
    from scipy.optimize import minimize_scalar

    if len(y_true) == 0:
        raise CalibrationError("there are no validation images to fit the temperature on; add images.")
    found = minimize_scalar(lambda log_t: negative_log_likelihood(logits, y_true, float(np.exp(log_t))),
                            bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)), method="bounded",
                            options={"xatol": 1e-4})
    temperature = float(np.exp(found.x))
    predicted = tempered_probabilities(logits, 1.0).argmax(axis=1)
    if temperature < 1.0 and (predicted == np.asarray(y_true, int)).all():
        # Without a single mistake the likelihood only grows as T falls: the fit would sharpen the model to
        # the bound and make it surer on new images than any evidence allows. Leave it as it is.
        return 1.0
    # Keep T = 1 unless scaling really lowers the loss: a flat objective is no reason to touch the model.
    if negative_log_likelihood(logits, y_true, temperature) >= negative_log_likelihood(logits, y_true, 1.0):
        return 1.0
    return temperature


def fold_temperature(heads: list, temperature: float) -> None:
    """Divide each softmax head's kernel and bias by `temperature`, in place."""
    for head in heads:
        weights = head.get_weights()
        head.set_weights([w / temperature for w in weights[:1 + head.use_bias]] + weights[1 + head.use_bias:])
