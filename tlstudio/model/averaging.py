"""One Keras model that averages the probabilities of several models of the same input: a model ensemble
(several runs) or a snapshot ensemble (one run's cycle ends). Where the members share the same frozen
backbone, weight for weight, the backbone runs once and only their output layers repeat."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tlstudio.model.build import OUTPUT_LAYER, POOL_LAYER

LEAVE_OUT_BELOW_BEST = 0.05  # a member this far below the best member's accuracy is left out (Huang et al.)
MIN_MEMBERS = 2  # an average of fewer is no ensemble


def choose_members(accuracies: Sequence[float], member: str = "member") -> list[tuple[bool, str]]:
    """The one leave-out rule of every ensemble (of runs or of one run's snapshots): per member, whether the
    average keeps it and, when not, why ("4.2 points below the best member"). A member more than
    LEAVE_OUT_BELOW_BEST below the best one's validation accuracy is left out, unless that would leave fewer
    than MIN_MEMBERS: then every member is kept, since an average of one is only that model again."""
    best = max(accuracies, default=0.0)
    gaps = [best - accuracy for accuracy in accuracies]
    if sum(gap <= LEAVE_OUT_BELOW_BEST for gap in gaps) < MIN_MEMBERS:
        return [(True, "")] * len(gaps)
    return [(True, "") if gap <= LEAVE_OUT_BELOW_BEST else (False, f"{gap * 100:.1f} points below the best {member}")
            for gap in gaps]


def _backbone_weights(model) -> list[np.ndarray]:
    import keras

    return keras.Model(model.inputs, model.get_layer(POOL_LAYER).output).get_weights()


def shares_backbone(models: list) -> bool:
    """Whether every model has the same backbone, weight for weight, in front of its pooled features."""
    try:
        reference = _backbone_weights(models[0])
        for model in models[1:]:
            weights = _backbone_weights(model)
            if len(weights) != len(reference) or any(
                    a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(weights, reference, strict=True)):
                return False
    except ValueError:  # a model without the pooled-features layer: not one of ours
        return False
    return True


def build_ensemble_model(models: list, shared: bool | None = None):
    """One Keras model whose output is the mean of `models`' probabilities; with a shared backbone, the
    backbone runs once and each member adds only its output layer. Returns (model, shared)."""
    import keras

    shape = models[0].input_shape[1:]
    if any(model.input_shape[1:] != shape for model in models):
        raise ValueError("the models take images of different sizes; an ensemble needs one input size.")
    shared = shares_backbone(models) if shared is None else shared
    inputs = keras.Input(shape=shape, dtype="float32", name="image")
    outputs = []
    if shared:
        first = models[0]
        features = keras.Model(first.inputs[0], first.get_layer(POOL_LAYER).output, name="backbone")(inputs)
        for index, model in enumerate(models):
            # Dropout does nothing at inference; the output layer is copied under a name of its own.
            layer = model.get_layer(OUTPUT_LAYER)
            head = layer.__class__.from_config({**layer.get_config(), "name": f"member_{index + 1}_predictions"})
            head.build(features.shape)
            head.set_weights(layer.get_weights())
            outputs.append(head(features))
    else:
        for index, model in enumerate(models):
            member = keras.Model(model.inputs[0], model.outputs[0], name=f"member_{index + 1}")
            outputs.append(member(inputs))
    probabilities = keras.layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, probabilities, name=f"ensemble_of_{len(models)}"), shared


