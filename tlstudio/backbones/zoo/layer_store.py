"""Backbone weights stored by layer name in a plain HDF5 file, and checked sources for them.

The converted offline backbones keep their weights as `/<layer name>/<index>` datasets: the
order of a layer's `get_weights()`, nothing Keras-version specific, and byte-for-byte the same
each time a conversion script writes it (no time stamps). Loading matches layers by name, so a
file that does not fit the network fails loudly instead of half-loading.

Pickled sources are only unpickled after their pinned sha256 matched (`verified_bytes`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from tlstudio.base.files import atomic_target

if TYPE_CHECKING:
    import keras

LayerWeights = dict[str, list[np.ndarray]]


class SourceMismatchError(ValueError):
    """A weights source is not the pinned file; nothing of it was unpickled."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified(data: bytes, expected_sha256: str, what: str, fix: str) -> bytes:
    """`data`, or `SourceMismatchError` (naming `what` and the `fix`) when its sha256 is not the pinned one."""
    actual = sha256_of(data)
    if actual != expected_sha256.strip().lower():
        raise SourceMismatchError(f"{what} is not the expected file (sha256 {actual[:12]}…, expected "
                                  f"{expected_sha256[:12]}…); {fix}")
    return data


def verified_bytes(path: str | os.PathLike[str], expected_sha256: str, fix: str) -> bytes:
    """The bytes of `path`, checked against the pinned sha256 (see `verified`)."""
    return verified(Path(path).read_bytes(), expected_sha256, str(path), fix)


def write_layer_weights(path: str | os.PathLike[str], weights: Mapping[str, Iterable[np.ndarray]],
                        attributes: Mapping[str, str] | None = None) -> Path:
    """Write `weights` (layer name -> arrays) to `path` atomically and reproducibly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # libver "earliest" and no time stamps: the same arrays give the same bytes.
    with atomic_target(path) as temporary, h5py.File(temporary, "w", libver="earliest", track_order=False) as file:
        for key, value in sorted((attributes or {}).items()):
            file.attrs[key] = value
        for name in sorted(weights):
            group = file.create_group(name, track_order=False)
            for index, array in enumerate(weights[name]):
                group.create_dataset(str(index), data=np.asarray(array, dtype=np.float32), track_times=False)
    return path


def read_layer_weights(path: str | os.PathLike[str]) -> LayerWeights:
    """Layer name -> arrays, as `write_layer_weights` stored them."""
    weights: LayerWeights = {}
    with h5py.File(path, "r") as file:
        for name, group in file.items():
            weights[name] = [np.asarray(group[str(i)]) for i in range(len(group))]
    return weights


def assign_layer_weights(model: keras.Model, weights: Mapping[str, list[np.ndarray]],
                         allow_unused: Iterable[str] = (), source: str = "the weights file") -> None:
    """Set each layer of `model` that has weights from `weights`, by name.

    Every layer with weights must find its arrays with matching shapes, and every entry must find
    its layer (except those named in `allow_unused`, e.g. an ImageNet classifier the headless
    backbone lacks); anything else raises `ValueError` before a weight is changed.
    """
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    missing = sorted(set(layers) - set(weights))
    unused = sorted(set(weights) - set(layers) - set(allow_unused))
    if missing or unused:
        raise ValueError(f"{source} does not fit {model.name}: "
                         + "; ".join(part for part in (
                             f"no weights for {', '.join(missing[:5])}" if missing else "",
                             f"no layer for {', '.join(unused[:5])}" if unused else "") if part))
    for name, layer in layers.items():
        expected = [tuple(w.shape) for w in layer.weights]
        given = [tuple(np.shape(a)) for a in weights[name]]
        if expected != given:
            raise ValueError(f"{source} does not fit {model.name}: layer {name} has weights of shapes "
                             f"{expected}, the file {given}")
    for name, layer in layers.items():
        layer.set_weights([np.asarray(a, dtype=np.float32) for a in weights[name]])
