"""Where a backbone's starting weights come from: Keras's ImageNet download, a file, or none.

Its own small module so it can be tested offline with a weights file the test writes.
Every failure the user can cause becomes a `WeightsError` with one sentence naming the fix.
Importing this module does not import TensorFlow; `imagenet_weights_cached` needs none.
"""

from __future__ import annotations

import inspect
import os
import re
import tempfile
import urllib.error
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from tlstudio.model.registry import BackboneSpec

if TYPE_CHECKING:
    import keras

# Sizes for which Keras publishes MobileNetV2 weights; any other size gets the 224 file.
_MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)

# The no-top file each Keras constructor downloads (from keras/src/applications/*.py).
_NOTOP_FILES: dict[str, str] = {
    "MobileNetV3Small": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
    "MobileNetV3Large": "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
    **{f"EfficientNetB{i}": f"efficientnetb{i}_notop.h5" for i in range(8)},
    **{f"EfficientNetV2B{i}": f"efficientnetv2-b{i}_notop.h5" for i in range(4)},
    **{f"EfficientNetV2{s}": f"efficientnetv2-{s.lower()}_notop.h5" for s in "SML"},
    **{f"ResNet{d}": f"resnet{d}_weights_tf_dim_ordering_tf_kernels_notop.h5" for d in (50, 101, 152)},
    **{f"ResNet{d}V2": f"resnet{d}v2_weights_tf_dim_ordering_tf_kernels_notop.h5" for d in (50, 101, 152)},
    **{f"DenseNet{d}": f"densenet{d}_weights_tf_dim_ordering_tf_kernels_notop.h5" for d in (121, 169, 201)},
    "InceptionV3": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "Xception": "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    **{f"ConvNeXt{s}": f"convnext_{s.lower()}_notop.h5" for s in ("Tiny", "Small", "Base", "Large", "XLarge")},
    "VGG16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "VGG19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


# What Keras's EfficientNet ImageNet file holds as its Normalization variance (the RGB std).
_IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsError(ValueError):
    """Weights the user asked for cannot be had; the message is one sentence naming the fix."""


def imagenet_weights_filename(spec: BackboneSpec, image_size: int) -> str:
    """The name of the no-top ImageNet file the Keras constructor downloads for this backbone."""
    if spec.constructor == "MobileNetV2":
        rows = image_size if image_size in _MOBILENET_V2_SIZES else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
    try:
        return _NOTOP_FILES[spec.constructor]
    except KeyError:
        raise KeyError(f"no known ImageNet weights file for {spec.constructor}") from None


def keras_cache_dirs() -> list[Path]:
    """Keras's model cache folders, as `keras.utils.get_file` chooses them (KERAS_HOME honoured).

    Keras falls back to /tmp/.keras when its home is not writable, so both are listed.
    """
    if "KERAS_HOME" in os.environ:
        home = Path(os.environ["KERAS_HOME"]).expanduser()
    else:
        base = Path("~").expanduser()
        home = (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"
    fallback = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()) / ".keras"
    return [home / "models"] + ([fallback / "models"] if fallback != home else [])


def imagenet_weights_cached(spec: BackboneSpec, image_size: int) -> Path | None:
    """The cached ImageNet file this backbone would load, or None when it would be downloaded.

    For the GUI's "cached" / "will download N MB" note; pure file look-up, no TensorFlow.
    """
    name = imagenet_weights_filename(spec, image_size)
    for folder in keras_cache_dirs():
        candidate = folder / name
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def build_backbone(spec: BackboneSpec, image_size: int, weights: str) -> keras.Model:
    """The headless backbone (include_top=False) for square `image_size` RGB input.

    `weights`: "imagenet" downloads through Keras into Keras's cache (or uses the cached
    copy); "none" is random initialisation; anything else is the path of a `.weights.h5`
    file or a legacy Keras-applications `.h5` no-top file. Raises `WeightsError`.
    """
    source = weights.strip()
    if source.lower() == "imagenet":
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
    import numpy as np

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
            raise WeightsError(
                f"Could not download the ImageNet weights for {spec.label} (no network?): connect once, "
                "or choose a weights file, or use weights 'none'.") from None
        if "corrupted" in text or "Incomplete" in text:
            cached = imagenet_weights_cached(spec, image_size)
            raise WeightsError(
                f"The cached ImageNet weights for {spec.label} ({cached}) are incomplete or corrupted; "
                "delete that file and try again.") from None
        raise


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
    import h5py

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
