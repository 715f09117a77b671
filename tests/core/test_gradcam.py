"""Grad-CAM on tiny models whose answer depends on a known region of the image."""

import numpy as np
import pytest

from tlstudio.tools.gradcam import GradCamError, find_target_layer, gradcam, overlay


def bright_patch_image() -> np.ndarray:
    image = np.zeros((32, 32, 3), np.uint8)
    image[2:10, 2:10] = 255  # a white square in the top-left corner
    return image


def brightness_classifier(nested: bool):
    """Class 0 = "bright": a 3x3 mean filter, pooled, with a +1/-1 head; optionally the convolutions
    sit inside a nested backbone model, as build_model puts them."""
    import keras

    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    if nested:
        inner = keras.Input((32, 32, 3))
        backbone = keras.Model(inner, conv(inner), name="backbone")
        x = backbone(x)
    else:
        x = conv(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    head = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, head(x))
    conv.set_weights([np.full((3, 3, 3, 4), 1 / 27, np.float32), np.zeros(4, np.float32)])
    head.set_weights([np.array([[5.0, -5.0]] * 4, np.float32), np.zeros(2, np.float32)])
    return model


@pytest.mark.parametrize("nested", [False, True])
def test_the_heat_map_covers_the_region_the_class_depends_on(nested):
    model = brightness_classifier(nested)
    assert find_target_layer(model)[1].name == "conv"
    heatmap = gradcam(model, bright_patch_image(), class_index=0)
    assert heatmap.shape == (32, 32) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
    row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert row < 12 and col < 12
    assert heatmap[:12, :12].mean() > 0.3 and heatmap[16:, 16:].max() == 0.0
    # The other class is pushed down by the patch: nothing supports it, so the map is empty.
    assert gradcam(model, bright_patch_image(), class_index=1).max() == 0.0
    # Default: the model's top class.
    np.testing.assert_allclose(gradcam(model, bright_patch_image()), heatmap)


def test_a_registry_backbone_is_explained_at_its_last_convolutional_block():
    from tlstudio.model.build import build_model
    from tlstudio.settings.project import ModelSettings

    built = build_model(ModelSettings(backbone="mobilenet_v2", image_size=64, weights="none"), 3, seed=0)
    backbone, layer = find_target_layer(built.model)
    assert backbone is built.backbone and layer.name == "out_relu" and len(layer.output.shape) == 4
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    heatmap = gradcam(built.model, image)
    assert heatmap.shape == (64, 64) and np.isfinite(heatmap).all()
    assert 0.0 <= heatmap.min() and heatmap.max() <= 1.0


def test_bad_input_is_a_clear_error_and_overlay_blends():
    model = brightness_classifier(nested=False)
    with pytest.raises(GradCamError, match=r"\(32, 32, 3\)"):
        gradcam(model, np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(GradCamError, match="class index 5"):
        gradcam(model, bright_patch_image(), class_index=5)
    image = bright_patch_image()
    blended = overlay(image, gradcam(model, image))
    assert blended.shape == image.shape and blended.dtype == np.uint8
    assert (blended[20:, 20:] == image[20:, 20:]).all()  # no heat, no change
