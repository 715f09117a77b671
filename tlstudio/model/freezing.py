"""The freezing rule, on plain data and on a built backbone: which layers train, and how many parameters.

The first `freeze` backbone layers ("all": every one) are frozen, the rest train, and BatchNorm layers
stay frozen unless asked: in Keras 3.15 `training=False` alone does not keep BatchNorm statistics
fixed once its layers are trainable (docs/stack-notes.md #1). The GUI's layer table and parameter
counts read the same rule before TensorFlow has built anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tlstudio.backbones.registry import get_backbone
from tlstudio.settings.project import ModelSettings

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class LayerRow:
    """One backbone layer as the GUI's layer table shows it."""

    index: int
    name: str
    type: str
    parameters: int
    trainable: bool


def backbone_layers(backbone: keras.Model) -> list[keras.layers.Layer]:
    """The backbone's layers in order, without its InputLayer: what freeze counts index."""
    import keras

    return [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]


def trainable_flags(is_batchnorm: list[bool], freeze: int | Literal["all"],
                    train_batchnorm: bool = False) -> list[bool]:
    """The freezing rule, on plain data: which backbone layers train.

    The first `freeze` layers ("all": every one) are frozen, the rest train, and BatchNorm layers
    stay frozen unless `train_batchnorm`. The GUI's layer table reads the same rule before
    TensorFlow has built anything.
    """
    frozen = len(is_batchnorm) if freeze == "all" else int(freeze)
    if frozen < 0:
        raise ValueError(f"freeze must be 'all' or 0 or more layers, not {freeze!r}")
    return [index >= frozen and (train_batchnorm or not batchnorm)
            for index, batchnorm in enumerate(is_batchnorm)]


def freeze_backbone(backbone: keras.Model, freeze: int | Literal["all"],
                    train_batchnorm: bool = False) -> None:
    """Freeze the first `freeze` backbone layers ("all": every one), make the rest trainable.

    BatchNormalization layers stay frozen unless `train_batchnorm`. The backbone model itself
    stays trainable: `backbone.trainable = False` would override every per-layer flag.
    """
    import keras

    layers = backbone_layers(backbone)
    flags = trainable_flags([isinstance(layer, keras.layers.BatchNormalization) for layer in layers],
                            freeze, train_batchnorm)
    backbone.trainable = True
    for layer, trainable in zip(layers, flags, strict=True):
        layer.trainable = trainable


def unfreeze_top(backbone: keras.Model, k: int, train_batchnorm: bool = False) -> None:
    """Make the top `k` backbone layers trainable and freeze the rest (fine-tuning phase 2)."""
    if k < 0:
        raise ValueError(f"cannot unfreeze {k} layers")
    freeze_backbone(backbone, max(len(backbone_layers(backbone)) - k, 0), train_batchnorm)


def layer_rows(backbone: keras.Model) -> list[LayerRow]:
    """One row per backbone layer (index as freeze counts it) for the GUI's layer table."""
    return [
        LayerRow(index=i, name=layer.name, type=type(layer).__name__,
                 parameters=sum(weight_count(w.shape) for w in layer.weights), trainable=bool(layer.trainable))
        for i, layer in enumerate(backbone_layers(backbone))
    ]


def weight_count(shape: tuple) -> int:
    """The number of values in a weight of this shape."""
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


@dataclass(frozen=True)
class BackboneLayers:
    """The backbone's layers (as freeze counts them) and the width of the features the head reads."""

    backbone: str
    rows: list[LayerRow]
    num_classes: int = 2

    @property
    def feature_size(self) -> int:
        return get_backbone(self.backbone).feature_width

    @property
    def head_parameters(self) -> int:
        """The Dense head's kernel and bias for `num_classes` outputs (pooling and dropout have none)."""
        return (self.feature_size + 1) * self.num_classes

    @property
    def total_parameters(self) -> int:
        return sum(row.parameters for row in self.rows) + self.head_parameters


def layer_states(rows: list, settings: ModelSettings, fine_tune_unfreeze: int | None) -> list[str]:
    """'frozen', 'trainable' or 'phase 2' for each row, by the core's freezing rule."""
    is_batchnorm = [row.type == "BatchNormalization" for row in rows]
    if fine_tune_unfreeze is not None:
        now = trainable_flags(is_batchnorm, "all", settings.train_batchnorm)  # phase 1: the head only
        later = trainable_flags(is_batchnorm, max(len(rows) - fine_tune_unfreeze, 0), settings.train_batchnorm)
    else:
        now = trainable_flags(is_batchnorm, settings.freeze, settings.train_batchnorm)
        later = now
    return ["trainable" if train else "phase 2" if train_later else "frozen"
            for train, train_later in zip(now, later, strict=True)]


def trainable_parameters(layers: BackboneLayers, states: list[str], phase: str = "trainable") -> int:
    """Trainable parameters when rows in `phase` state train (BatchNorm: only gamma and beta)."""
    total = layers.head_parameters
    for row, state in zip(layers.rows, states, strict=True):
        if state == phase or (phase == "phase 2" and state == "trainable"):
            total += row.parameters // 2 if row.type == "BatchNormalization" else row.parameters
    return total


