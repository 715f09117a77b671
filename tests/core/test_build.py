"""Model building: preprocessing, freezing (BatchNorm stays fixed, docs/stack-notes.md #1), head, save/load."""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tlstudio.backbones.preprocessing import preprocessing_layers
from tlstudio.backbones.registry import BACKBONE_NAMES, BACKBONES
from tlstudio.model.build import build_model, count_parameters
from tlstudio.model.freezing import (
    BackboneLayers,
    LayerRow,
    backbone_layers,
    freeze_backbone,
    layer_rows,
    layer_states,
    trainable_parameters,
    unfreeze_top,
)
from tlstudio.settings.project import ModelSettings, Project

NUM_CLASSES = 3


def settings(**changes) -> ModelSettings:
    values = {"backbone": "mobilenet_v2", "image_size": 32, "weights": "none", "freeze": "all"}
    return ModelSettings(**{**values, **changes})


def batchnorm_layers(backbone: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in backbone_layers(backbone) if isinstance(layer, keras.layers.BatchNormalization)]


def param_count(layers) -> int:
    return sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)


def random_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


# -- preprocessing -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_preprocessing_matches_keras_preprocess_input(name):
    spec = BACKBONES[name]
    module = importlib.import_module(spec.keras_constructor.__module__)
    x = random_images(2, 8, seed=1)
    expected = module.preprocess_input(x.copy())
    got = x
    for layer in preprocessing_layers(spec.preprocessing):
        got = layer(got)
    got = keras.ops.convert_to_numpy(got)
    if spec.preprocessing == "builtin":
        assert preprocessing_layers("builtin") == []
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_preprocessing_layers_are_builtin_keras_layers():
    for mode in ("tf", "torch", "caffe"):
        for layer in preprocessing_layers(mode):
            assert type(layer).__module__.startswith("keras.src.layers"), type(layer)
            assert not layer.trainable_weights


# -- every registry row --------------------------------------------------------------------------


def test_every_constructor_exists():
    for spec in BACKBONES.values():
        assert callable(spec.keras_constructor), spec.constructor


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_every_backbone_builds_at_its_min_size(name):
    spec = BACKBONES[name]
    built = build_model(settings(backbone=name, image_size=spec.min_size), NUM_CLASSES)
    assert built.spec is spec
    assert built.model.input_shape == (None, spec.min_size, spec.min_size, 3)
    assert built.model.output_shape == (None, NUM_CLASSES)
    features = built.backbone.output_shape[-1]
    assert features == spec.feature_width  # the registry's column, read before anything is built
    assert count_parameters(built.model)[0] == features * NUM_CLASSES + NUM_CLASSES  # only the head
    if spec.preprocessing == "builtin":
        # The backbone brings its own input scaling (include_preprocessing / always on).
        scaling = (keras.layers.Rescaling, keras.layers.Normalization)
        assert any(isinstance(layer, scaling) for layer in built.backbone.layers[:4])


# -- freezing ------------------------------------------------------------------------------------


def calibrate_batchnorm(backbone: keras.Model, x: np.ndarray) -> None:
    """Give a randomly initialised backbone data-like BatchNorm statistics, as pretrained ones have.

    With the initial statistics (mean 0, variance 1) MobileNetV2's inference-mode activations
    vanish (~1e-11), so no gradient is large enough to move a float32 kernel at all.
    """
    norms = batchnorm_layers(backbone)
    saved = [(norm.trainable, norm.momentum) for norm in norms]
    for norm in norms:
        norm.trainable, norm.momentum = True, 0.0  # moving statistics := this batch's
    backbone(x / 127.5 - 1.0, training=True)
    for norm, (trainable, momentum) in zip(norms, saved, strict=True):
        norm.trainable, norm.momentum = trainable, momentum


@pytest.mark.slow
def test_batchnorm_statistics_stay_fixed_while_training_all_layers():
    """docs/stack-notes.md #1: with every layer trainable, fit() must not move BatchNorm moving statistics."""
    built = build_model(settings(freeze=0), NUM_CLASSES, seed=0)
    model, backbone = built.model, built.backbone
    calibrate_batchnorm(backbone, random_images(8, seed=5))
    norms = batchnorm_layers(backbone)
    convs = [layer for layer in backbone_layers(backbone) if isinstance(layer, keras.layers.Conv2D)]
    stats_before = [(n.moving_mean.numpy().copy(), n.moving_variance.numpy().copy()) for n in norms]
    kernels_before = [c.kernel.numpy().copy() for c in convs]
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                  jit_compile=False)
    model.fit(random_images(8), np.arange(8) % NUM_CLASSES, batch_size=4, epochs=1, verbose=0)
    assert norms
    for norm, (mean, variance) in zip(norms, stats_before, strict=True):
        np.testing.assert_array_equal(norm.moving_mean.numpy(), mean, err_msg=norm.name)
        np.testing.assert_array_equal(norm.moving_variance.numpy(), variance, err_msg=norm.name)
    assert any(not np.array_equal(c.kernel.numpy(), k) for c, k in zip(convs, kernels_before, strict=True))


@pytest.mark.slow
def test_trap_1_training_false_alone_does_not_fix_batchnorm():
    """The control for the test above: trainable BatchNorm moves even in a training=False call."""
    built = build_model(settings(freeze=0), NUM_CLASSES, seed=0)
    norms = batchnorm_layers(built.backbone)
    for norm in norms:
        norm.trainable = True  # what freeze_backbone must not leave behind
    before = [n.moving_mean.numpy().copy() for n in norms]
    built.model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                        jit_compile=False)
    built.model.fit(random_images(4), np.arange(4) % NUM_CLASSES, batch_size=4, epochs=1, verbose=0)
    assert any(not np.array_equal(n.moving_mean.numpy(), m) for n, m in zip(norms, before, strict=True))


def test_freeze_counts():
    built = build_model(settings(freeze="all"), NUM_CLASSES)
    model, backbone = built.model, built.backbone
    layers = backbone_layers(backbone)
    head = param_count([model.get_layer("predictions")])
    total = model.count_params()
    assert backbone.trainable  # per-layer flags rule; an untrainable outer model would override them

    assert not any(layer.trainable for layer in layers)
    assert count_parameters(model) == (head, total - head)

    freeze_backbone(backbone, 100)
    assert not any(layer.trainable for layer in layers[:100])
    unfrozen = [layer for layer in layers[100:] if not isinstance(layer, keras.layers.BatchNormalization)]
    assert [layer for layer in layers if layer.trainable] == unfrozen
    assert not any(norm.trainable for norm in batchnorm_layers(backbone))
    trainable = head + sum(param_count([layer]) for layer in unfrozen)
    assert count_parameters(model) == (trainable, total - trainable)

    freeze_backbone(backbone, 0)
    assert all(layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in layers)
    everything_but_bn = head + param_count(
        [layer for layer in layers if not isinstance(layer, keras.layers.BatchNormalization)])
    assert count_parameters(model)[0] == everything_but_bn
    assert sum(count_parameters(model)) == total

    freeze_backbone(backbone, 0, train_batchnorm=True)
    assert all(layer.trainable for layer in layers)
    bn_gamma_beta = sum(2 * int(norm.gamma.shape[0]) for norm in batchnorm_layers(backbone))
    assert count_parameters(model)[0] == everything_but_bn + bn_gamma_beta  # moving stats stay frozen

    freeze_backbone(backbone, len(layers) + 50)
    assert not any(layer.trainable for layer in layers)


def test_freeze_from_settings_and_unfreeze_top():
    built = build_model(settings(freeze=30), NUM_CLASSES)
    layers = backbone_layers(built.backbone)
    assert not any(layer.trainable for layer in layers[:30])
    assert any(layer.trainable for layer in layers[30:])

    unfreeze_top(built.backbone, 20)
    top = layers[-20:]
    assert not any(layer.trainable for layer in layers[:-20])
    assert all(layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in top)
    unfreeze_top(built.backbone, 20, train_batchnorm=True)
    assert all(layer.trainable for layer in top)
    unfreeze_top(built.backbone, 0)
    assert not any(layer.trainable for layer in layers)


def test_layer_rows():
    built = build_model(settings(freeze=10), NUM_CLASSES)
    rows = layer_rows(built.backbone)
    layers = backbone_layers(built.backbone)
    assert [row.index for row in rows] == list(range(len(layers)))
    assert [row.name for row in rows] == [layer.name for layer in layers]
    assert rows[0].type == "Conv2D" and rows[0].parameters == 3 * 3 * 3 * 32 and not rows[0].trainable
    assert sum(row.parameters for row in rows) == built.backbone.count_params()
    assert [row.trainable for row in rows] == [layer.trainable for layer in layers]


# -- head and contents ---------------------------------------------------------------------------


def test_head_structure():
    built = build_model(settings(dropout=0.3, l2=1e-3), NUM_CLASSES)
    model = built.model
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    predictions = model.get_layer("predictions")
    assert predictions.units == NUM_CLASSES
    assert predictions.get_config()["activation"] == "softmax"
    assert isinstance(predictions.kernel_regularizer, keras.regularizers.L2)
    assert predictions.kernel_regularizer.l2 == pytest.approx(1e-3)
    assert model.layers[-1] is predictions
    assert build_model(settings(l2=0.0), NUM_CLASSES).model.get_layer("predictions").kernel_regularizer is None
    probabilities = model.predict(random_images(2), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_no_augmentation_layer_in_the_model():
    model = build_model(settings(), NUM_CLASSES).model

    def all_layers(container):
        for layer in container.layers:
            yield layer
            if hasattr(layer, "layers"):
                yield from all_layers(layer)

    names = [type(layer).__name__ for layer in all_layers(model)]
    assert not [name for name in names if name.startswith("Random")]
    x = random_images(2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), model.predict(x, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("train_batchnorm", [False, True])
def test_backbone_call_is_inference_mode_unless_batchnorm_trains(train_batchnorm):
    built = build_model(settings(freeze=0, train_batchnorm=train_batchnorm), NUM_CLASSES)
    config = built.model.get_config()
    (node,) = next(layer for layer in config["layers"] if layer["name"] == built.backbone.name)["inbound_nodes"]
    assert node["kwargs"].get("training") is (None if train_batchnorm else False)


def test_rejects_fewer_than_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model(settings(), 1)


# -- save and load without tlstudio ----------------------------------------------------------------


@pytest.mark.slow
def test_saved_model_loads_with_plain_keras_in_a_fresh_process(tmp_path):
    """model.keras must load in a process that never imported tlstudio, and predict the same."""
    x = random_images(3, seed=2)
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for name in ("mobilenet_v2", "mobilenet_v3_small"):
        model = build_model(settings(backbone=name, freeze=0), NUM_CLASSES, seed=0).model
        model.save(tmp_path / f"{name}.keras")
        expected[name] = model.predict(x, verbose=0)
    for mode in ("torch", "caffe"):  # the other preprocessing layers, alone, for speed
        inputs = keras.Input((32, 32, 3))
        outputs = inputs
        for layer in preprocessing_layers(mode):
            outputs = layer(outputs)
        model = keras.Model(inputs, outputs)
        model.save(tmp_path / f"{mode}.keras")
        expected[mode] = model.predict(x, verbose=0)

    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        import keras
        folder, names = sys.argv[1], json.loads(sys.argv[2])
        x = np.load(f"{folder}/x.npy")
        for name in names:
            model = keras.saving.load_model(f"{folder}/{name}.keras")
            np.save(f"{folder}/{name}.out.npy", model.predict(x, verbose=0))
        assert not [m for m in sys.modules if m.startswith("tlstudio")]
    """)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps(list(expected))],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, values in expected.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.out.npy"), values, rtol=1e-5, atol=1e-5,
                                   err_msg=name)


# -- the freezing rule on plain data (what the Model page shows before anything is built) ----------


def _rows():
    return [LayerRow(0, "conv", "Conv2D", 100, True), LayerRow(1, "bn", "BatchNormalization", 40, False),
            LayerRow(2, "conv2", "Conv2D", 200, True), LayerRow(3, "bn2", "BatchNormalization", 40, False)]


def test_layer_states_follow_the_freeze_rule():
    rows = _rows()
    project = Project()
    assert layer_states(rows, project.model, None) == ["frozen"] * 4
    model = project.model.model_copy(update={"freeze": 1})
    assert layer_states(rows, model, None) == ["frozen", "frozen", "trainable", "frozen"]
    model = project.model.model_copy(update={"freeze": 1, "train_batchnorm": True})
    assert layer_states(rows, model, None) == ["frozen", "trainable", "trainable", "trainable"]
    assert layer_states(rows, project.model, 2) == ["frozen", "frozen", "phase 2", "frozen"]
    layers = BackboneLayers("vgg16", rows, num_classes=3)  # 512 features
    assert layers.head_parameters == 513 * 3
    states = layer_states(rows, model, None)
    assert trainable_parameters(layers, states) == 513 * 3 + 20 + 200 + 20  # BatchNorm: gamma and beta only
