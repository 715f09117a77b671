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


# The offline backbones, so that both sides start from real ImageNet weights on any machine and
# the accuracy columns mean something (the keras.applications ones need a download).
CASES = {
    1: Case(1, "squeezenet1_1 227 px, frozen, no augmentation, 10 epochs", "squeezenet1_1", 227, 10),
    2: Case(2, "squeezenet1_1 227 px, frozen, flip + rotation, 10 epochs", "squeezenet1_1", 227, 10,
            augment=("flip", "rotate")),
    3: Case(3, "squeezenet1_1 227 px, top 12 layers (fire7-9) unfrozen, 3 epochs", "squeezenet1_1", 227, 3,
            unfreeze_top=12),
    4: Case(4, "efficientnet_lite0 224 px, frozen, no augmentation, 5 epochs", "efficientnet_lite0", 224, 5),
}

ROTATION_DEGREES = 36.0  # the keras.io guide's RandomRotation(0.1) is 0.1 x 360 degrees
VAL_SPLIT = 0.2
SEED = 1337
