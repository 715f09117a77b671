"""Keras optimizers from `OptimizerSettings`, plus the help texts the GUI shows beside them.

The tables import nothing heavy, so the GUI can lay out its optimizer form before
TensorFlow has loaded; Keras is imported when an optimizer is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.settings.project import OptimizerSettings

if TYPE_CHECKING:
    import keras

# Which OptimizerSettings fields apply to each optimizer, in the order the GUI shows them.
OPTIMIZER_PARAMETERS: dict[str, list[str]] = {
    "sgd": ["learning_rate", "clipnorm", "ema"],
    "momentum": ["learning_rate", "momentum", "clipnorm", "ema"],
    "nesterov": ["learning_rate", "momentum", "clipnorm", "ema"],
    "adagrad": ["learning_rate", "initial_accumulator", "epsilon", "clipnorm", "ema"],
    "rmsprop": ["learning_rate", "rho", "epsilon", "clipnorm", "ema"],
    "adam": ["learning_rate", "beta_1", "beta_2", "epsilon", "clipnorm", "ema"],
    "adamw": ["learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "clipnorm", "ema"],
    "lbfgs": [],  # no learning rate: its line search picks each step; the epochs are its iterations
}
# Optimizers that are not Keras optimizers but fit the head full-batch on cached features (train/lbfgs.py).
FULL_BATCH_OPTIMIZERS = frozenset({"lbfgs"})

OPTIMIZER_DESCRIPTIONS: dict[str, str] = {
    "sgd": "Plain gradient descent: w -= lr * gradient.",
    "momentum": "SGD with a velocity that accumulates past gradients (heavy ball).",
    "nesterov": "SGD with Nesterov momentum: looks ahead along the velocity before stepping.",
    "adagrad": "Per-weight step sizes that shrink with the sum of past squared gradients.",
    "rmsprop": "Per-weight step sizes from a moving average of squared gradients.",
    "adam": "Momentum plus RMSProp-style scaling, with bias correction; a robust default.",
    "adamw": "Adam with decoupled weight decay; often better generalisation when fine-tuning.",
    "lbfgs": "L-BFGS: a quasi-Newton method fitting the head full-batch on cached features; each epoch is one "
             "iteration. Needs the whole backbone frozen and the feature cache.",
}

_PARAMETER_HELP: dict[str, str] = {
    "learning_rate": "Step size at the start of the schedule; fine-tuning wants it small (1e-3 to 1e-5).",
    "clipnorm": "Rescale each gradient whose norm exceeds this; empty means no clipping.",
    "epsilon": "Added to the denominator so tiny squared-gradient averages cannot blow the step up.",
    "momentum": "Velocity decay: the fraction of the previous step kept (0.9 typical).",
    "initial_accumulator": "Starting value of each weight's sum of squared gradients.",
    "rho": "Decay of the squared-gradient moving average (0.9 typical).",
    "beta_1": "Decay of the gradient moving average (first moment, 0.9 typical).",
    "beta_2": "Decay of the squared-gradient moving average (second moment, 0.999 typical).",
    "weight_decay": "Decoupled decay: each step shrinks weights by lr x this, apart from the gradient.",
    "ema": "Polyak averaging: keep avg = decay x avg + (1 - decay) x weights after every step; validation "
           "and the saved model use the average (0.99 typical; off: none).",
}

# One tooltip per parameter that applies, keyed like OPTIMIZER_PARAMETERS.
OPTIMIZER_HELP: dict[str, dict[str, str]] = {
    name: {parameter: _PARAMETER_HELP[parameter] for parameter in parameters}
    for name, parameters in OPTIMIZER_PARAMETERS.items()
}


def make_optimizer(settings: OptimizerSettings, learning_rate) -> keras.optimizers.Optimizer:
    """The Keras optimizer for `settings`; `learning_rate` is a float or a LearningRateSchedule.

    The rate is passed separately because the schedule (built from ScheduleSettings and the
    run's step counts) replaces `settings.learning_rate` as what the optimizer reads.
    """
    import keras

    common: dict = {"learning_rate": learning_rate}
    if settings.clipnorm is not None:
        common["clipnorm"] = settings.clipnorm
    if settings.ema is not None:
        # Polyak averaging, Keras's own: the optimizer keeps the average; SwapEMAWeights (the trainer's
        # callbacks) puts it in the model for validation. No periodic overwrite: training goes on from the
        # raw weights, as the textbook's averaging does.
        common.update(use_ema=True, ema_momentum=settings.ema, ema_overwrite_frequency=None)
    name = settings.name
    if name == "sgd":
        return keras.optimizers.SGD(momentum=0.0, **common)
    if name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(momentum=settings.momentum, nesterov=name == "nesterov", **common)
    if name == "adagrad":
        return keras.optimizers.Adagrad(initial_accumulator_value=settings.initial_accumulator,
                                        epsilon=settings.epsilon, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rho=settings.rho, momentum=0.0, epsilon=settings.epsilon, **common)
    if name == "adam":
        return keras.optimizers.Adam(beta_1=settings.beta_1, beta_2=settings.beta_2,
                                     epsilon=settings.epsilon, **common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=settings.weight_decay, beta_1=settings.beta_1,
                                      beta_2=settings.beta_2, epsilon=settings.epsilon, **common)
    if is_full_batch(name):
        raise ValueError(f"{name} is not a Keras optimizer: it fits the head full-batch (train/lbfgs.py).")
    raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZER_PARAMETERS)}")


def is_full_batch(name: str) -> bool:
    """Whether optimizer `name` fits the head full-batch on cached features instead of stepping through fit()."""
    return name in FULL_BATCH_OPTIMIZERS
