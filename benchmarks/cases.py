"""The benchmark cases of issue 5: one table both sides read, so they train the same thing."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    number: int
    title: str
    backbone: str
    image_size: int
    epochs: int
    augment: tuple[str, ...] = ()
    unfreeze_top: int = 0  # 0: the whole backbone frozen
    batch_size: int = 32
    learning_rate: float = 1e-3


CASES = {
    1: Case(1, "mobilenet_v2 160 px, frozen, no augmentation, 10 epochs", "mobilenet_v2", 160, 10),
    2: Case(2, "mobilenet_v2 160 px, frozen, flip + rotation, 10 epochs", "mobilenet_v2", 160, 10,
            augment=("flip", "rotate")),
    3: Case(3, "mobilenet_v2 160 px, top 30 layers unfrozen, 3 epochs", "mobilenet_v2", 160, 3, unfreeze_top=30),
    4: Case(4, "efficientnet_b0 224 px, frozen, no augmentation, 5 epochs", "efficientnet_b0", 224, 5),
}

ROTATION_DEGREES = 36.0  # the keras.io guide's RandomRotation(0.1) is 0.1 x 360 degrees
VAL_SPLIT = 0.2
SEED = 1337
