"""The plain, hand-written Keras transfer-learning script, written the way the keras.io guide does it.

image_dataset_from_directory -> cache -> prefetch; augmentation and preprocessing inside the model;
backbone called with training=False; model.fit. Prints one JSON line with its measurements.
"""

import json
import resource
import sys
import time

START = time.perf_counter()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from cases import CASES, ROTATION_DEGREES, SEED, VAL_SPLIT  # noqa: E402


def backbone(name: str, size: int, weights: str | None):
    """The base network and its preprocessing layers, as a notebook would write them.

    keras.applications backbones come from their constructor; the offline ones (SqueezeNet 1.1,
    EfficientNet-Lite0) are not in keras.applications, so their architecture and ImageNet weights
    come from tlstudio's model zoo, the one place they exist: the training itself stays plain Keras.
    """
    from tlstudio.backbones.preprocessing import preprocessing_layers
    from tlstudio.backbones.registry import get_backbone

    spec = get_backbone(name)
    if spec.works_offline:
        from tlstudio.backbones.weights import build_backbone

        return build_backbone(spec, size, weights or "none"), preprocessing_layers(spec.preprocessing)
    base = spec.keras_constructor(include_top=False, weights=weights, input_shape=(size, size, 3))
    return base, preprocessing_layers(spec.preprocessing)


def main(case_number: int, data: str, weights: str) -> None:
    work_start = time.perf_counter()
    case = CASES[case_number]
    weights = None if weights == "none" else weights
    keras.utils.set_random_seed(SEED)
    size = (case.image_size, case.image_size)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        data, validation_split=VAL_SPLIT, subset="both", seed=SEED, image_size=size,
        batch_size=case.batch_size, label_mode="categorical")
    num_classes = len(train_ds.class_names)
    train_ds = train_ds.cache().prefetch(tf.data.AUTOTUNE)
    val_ds = val_ds.cache().prefetch(tf.data.AUTOTUNE)

    base, preprocess = backbone(case.backbone, case.image_size, weights)
    if case.unfreeze_top:
        base.trainable = True
        for layer in base.layers[:-case.unfreeze_top]:
            layer.trainable = False
    else:
        base.trainable = False

    inputs = keras.Input(shape=size + (3,))
    x = inputs
    if "flip" in case.augment:
        x = keras.layers.RandomFlip("horizontal")(x)
    if "rotate" in case.augment:
        x = keras.layers.RandomRotation(ROTATION_DEGREES / 360)(x)
    for layer in preprocess:
        x = layer(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(case.learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    fit_start = time.perf_counter()
    history = model.fit(train_ds, epochs=case.epochs, validation_data=val_ds, verbose=0)
    fit_seconds = time.perf_counter() - fit_start
    work_seconds = time.perf_counter() - work_start
    n_train = sum(int(y.shape[0]) for _, y in train_ds)
    print(json.dumps({
        "side": "keras", "case": case_number, "total_seconds": time.perf_counter() - START,
        "work_seconds": work_seconds, "fit_seconds": fit_seconds,
        "images_per_second": n_train * case.epochs / work_seconds,
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "best_val_accuracy": float(max(history.history["val_accuracy"])),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
