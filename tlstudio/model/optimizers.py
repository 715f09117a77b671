"""Keras optimizers from `OptimizerSettings`, and views of their declarations: which parameters each
optimizer reads and their help (declared once, in settings/sections.py).

The tables import nothing heavy, so the GUI can lay out its optimizer form before
TensorFlow has loaded; Keras is imported when an optimizer is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.settings.project import (
    FULL_BATCH_OPTIMIZERS,
    OPTIMIZER_NAMES,
    OptimizerSettings,
    declared_fields,
    describe,
)

if TYPE_CHECKING:
    import keras

# Views of the declarations (settings/sections.py: each parameter says which optimizers read it).
_PARAMETERS = [spec for spec in declared_fields() if spec.section == "optimizer" and spec.setting.optimizers]
# Which OptimizerSettings fields each optimizer reads, in the order the GUI shows them.
OPTIMIZER_PARAMETERS: dict[str, list[str]] = {
    name: [spec.name for spec in _PARAMETERS if spec.read_by_optimizer(name)] for name in OPTIMIZER_NAMES}
OPTIMIZER_DESCRIPTIONS: dict[str, str] = {name: describe("optimizer.name").help_of(name) for name in OPTIMIZER_NAMES}
# One tooltip per parameter that applies, keyed like OPTIMIZER_PARAMETERS.
OPTIMIZER_HELP: dict[str, dict[str, str]] = {
    name: {spec.name: spec.help for spec in _PARAMETERS if spec.read_by_optimizer(name)} for name in OPTIMIZER_NAMES}


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
