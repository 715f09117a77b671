"""The Project's sections, each field declared once: its type, default and bounds (pydantic's own), its help
(the description) and a `Setting` with its label, unit, form step, flag and where it applies.

The CLI's flags and the GUI's form rows are made from these declarations (settings/fields.py): a new
setting, or a new augmentation, is one field here (plus the code that reads it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tlstudio.backbones.registry import BACKBONE_NAMES, OFFLINE_BACKBONES, get_backbone
from tlstudio.backbones.weight_sources import default_backbone
from tlstudio.data.images import DEFAULT_MAX_MEGAPIXELS, DEFAULT_RESIZE
from tlstudio.settings.fields import Setting, find_spec

OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs"]
ScheduleName = Literal["constant", "step", "exponential", "inverse-time", "cosine", "cosine-restarts", "plateau"]
ResizePolicy = Literal["stretch", "center-crop", "pad"]
DistributionStrategy = Literal["auto", "mirrored", "multi-worker"]
# Keras 3's backends a training process can run on (train/backend.py chooses and reports the device).
KerasBackend = Literal["auto", "tensorflow", "jax", "torch"]
BACKEND_NAMES: tuple[str, ...] = tuple(name for name in KerasBackend.__args__ if name != "auto")
OPTIMIZER_NAMES: tuple[str, ...] = OptimizerName.__args__
SCHEDULE_NAMES: tuple[str, ...] = ScheduleName.__args__
RESIZE_POLICIES: tuple[str, ...] = ResizePolicy.__args__
STRATEGY_NAMES: tuple[str, ...] = DistributionStrategy.__args__
# Optimizers that are not Keras optimizers but fit the head full-batch on cached features (train/lbfgs.py).
FULL_BATCH_OPTIMIZERS = frozenset({"lbfgs"})
# The optimizers that take gradient steps: what learning rate, clipping and averaging apply to.
STEP_OPTIMIZERS = tuple(name for name in OPTIMIZER_NAMES if name not in FULL_BATCH_OPTIMIZERS)
ADAPTIVE_OPTIMIZERS = ("adagrad", "rmsprop", "adam", "adamw")
ADAM_OPTIMIZERS = ("adam", "adamw")
DEVICE_NAME = re.compile(r"(?i)(GPU|CPU):\d+")
WEIGHTS_KEYWORDS = ("imagenet", "none")
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Positive = Annotated[float, Field(gt=0.0)]


class ProjectError(ValueError):
    """A project file or setting the user must fix; the message is one sentence naming it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSettings(_Section):
    folder: Annotated[str | None, Setting("Data folder", flag="data")] = Field(
        None, description="Folder of class sub-folders (or train/ and val/).")
    val_split: Annotated[float, Setting("Validation share")] = Field(
        0.2, gt=0.0, lt=1.0, description="Share of each class held out to measure accuracy on unseen images (0-1).")
    resize: Annotated[ResizePolicy, Setting("Non-square images", labels={
        "center-crop": "Crop the centre square", "stretch": "Stretch to a square", "pad": "Pad to a square"})] = Field(
        DEFAULT_RESIZE, description="How images that are not square are fitted to the model's square input.")
    max_megapixels: Annotated[float, Setting("Largest image", unit=" MP")] = Field(
        DEFAULT_MAX_MEGAPIXELS, gt=0.0, description=(
            "Images larger than this many megapixels are refused from their header, before they are decoded."))
    exclude: Annotated[list[str], Setting("Excluded files", flag=None)] = Field(default_factory=list, description=(
        "Files left out of training and validation, as paths relative to the data folder; the files stay."))
    marked_fine: Annotated[list[str], Setting("Files marked fine", flag=None)] = Field(
        default_factory=list, description=(
            "Files the dataset health check flagged and the user marked fine (relative to the data folder)."))
    keep_duplicates_together: Annotated[bool, Setting("Keep copies together")] = Field(False, description=(
        "Keep every group of copies of one picture (same file or near-identical) on one side of the "
        "train/validation split, so no copy of a training image is validated on."))


_OFFLINE = ", ".join(f"{name}: {get_backbone(name).weights_origin}" for name in OFFLINE_BACKBONES)


class ModelSettings(_Section):
    backbone: Annotated[str, Setting("Backbone", metavar="NAME", labels={
        name: get_backbone(name).label for name in BACKBONE_NAMES})] = Field(
        default_factory=default_backbone, description=(
            "A registry name; a new project starts with a pretrained one that loads right now: MobileNetV2 when "
            f"Keras has its ImageNet weights cached, else squeezenet1_1. ImageNet weights without the network: "
            f"{_OFFLINE}."))
    image_size: Annotated[int | None, Setting("Input size", unit=" px", step=16, least=32, most=1024)] = Field(
        None, description=("Images are resized to this square in pixels; smaller trains faster, larger sees more "
                           "detail. Empty: the backbone's default."))
    weights: Annotated[str, Setting("Weights")] = Field(
        "imagenet", description="'imagenet', 'none' (random initial weights), or the path of a weights file.")
    freeze: Annotated[Union[Literal["all"], int], Setting("Frozen layers")] = Field(
        "all", description="'all', or the number of backbone layers (from the input) that are frozen.")
    train_batchnorm: Annotated[bool, Setting("Also train BatchNorm layers of unfrozen blocks")] = Field(
        False, description=("Let the BatchNorm layers of unfrozen blocks update; usually off: on small data their "
                            "statistics are better left as trained."))
    dropout: Annotated[Fraction, Setting("Dropout", step=0.05, decimals=2)] = Field(
        0.2, description="Share of features dropped at random while training; fights overfitting.")
    l2: Annotated[float, Setting("L2 penalty", step=0.0001, decimals=5, most=0.1, off="off")] = Field(
        0.0, ge=0.0, description="Weight decay on the head's weights (0: off); 1e-4 to 1e-3 is typical.")
    label_smoothing: Annotated[Fraction, Setting("Label smoothing", step=0.05, decimals=2, off="off")] = Field(
        0.0, description="Softens the targets so the model is less over-confident (0: off).")

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        if value not in BACKBONE_NAMES:
            raise ValueError(f"unknown backbone {value!r}; choose one of: {', '.join(BACKBONE_NAMES)}")
        return value

    @field_validator("freeze", mode="before")
    @classmethod
    def _freeze_policy(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        raise ValueError(f"must be 'all' or a number of layers (0 or more), not {value!r}")

    @field_validator("weights")
    @classmethod
    def _weights_source(cls, value: str) -> str:
        """The keywords are case-insensitive and stored lower-case; only this compares them."""
        value = value.strip()
        if not value:
            raise ValueError("must be 'imagenet', 'none' or the path of a weights file")
        return value.lower() if value.lower() in WEIGHTS_KEYWORDS else value

    @property
    def weights_file(self) -> Path | None:
        """The weights file the user chose, or None for 'imagenet' and 'none'."""
        return None if self.weights in WEIGHTS_KEYWORDS else Path(self.weights).expanduser()

    @model_validator(mode="after")
    def _size_fits_backbone(self) -> ModelSettings:
        spec = get_backbone(self.backbone)
        if self.image_size is not None and self.image_size < spec.min_size:
            raise ValueError(
                f"image_size {self.image_size} is below {spec.label}'s minimum of {spec.min_size} px")
        return self

    @property
    def resolved_image_size(self) -> int:
        return self.image_size or get_backbone(self.backbone).default_size


def _rate(label: str, least: float, optimizers: tuple[str, ...], **more: Any) -> Setting:
    """A rate that spans decades (3e-4, 1e-8): a form steps it on a log scale."""
    return Setting(label, log_scale=True, least=least, most=10.0, optimizers=optimizers, **more)


class OptimizerSettings(_Section):
    name: Annotated[OptimizerName, Setting("Optimizer", flag="optimizer", metavar="NAME", labels={
        "sgd": "SGD", "momentum": "SGD with momentum", "nesterov": "SGD with Nesterov momentum",
        "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW",
        "lbfgs": "L-BFGS (head, full batch)",
    }, choice_help={
        "sgd": "Plain gradient descent: w -= lr * gradient.",
        "momentum": "SGD with a velocity that accumulates past gradients (heavy ball).",
        "nesterov": "SGD with Nesterov momentum: looks ahead along the velocity before stepping.",
        "adagrad": "Per-weight step sizes that shrink with the sum of past squared gradients.",
        "rmsprop": "Per-weight step sizes from a moving average of squared gradients.",
        "adam": "Momentum plus RMSProp-style scaling, with bias correction; a robust default.",
        "adamw": "Adam with decoupled weight decay; often better generalisation when fine-tuning.",
        "lbfgs": "L-BFGS: a quasi-Newton method fitting the head full-batch on cached features; each epoch is one "
                 "iteration. Needs the whole backbone frozen and the feature cache.",
    })] = Field("adam", description="The update rule: how each step turns the gradients into new weights.")
    # The default suits the default project: a frozen pretrained backbone and a linear head, which
    # Adam at 1e-3 barely moves in the few dozen steps a small dataset gives (78 % where 1e-2
    # reaches 94-100 % on the 4-class demo, SqueezeNet 1.1). Fine-tuning wants 1e-4 or less:
    # phase 2 multiplies this by fine_tune.lr_factor.
    learning_rate: Annotated[Positive, _rate("Learning rate", 1e-9, STEP_OPTIMIZERS, flag="lr")] = Field(
        1e-2, description="Step size at the start of the schedule; fine-tuning wants it small (1e-3 to 1e-5).")
    momentum: Annotated[float, Setting("Momentum", step=0.01, decimals=3, optimizers=("momentum", "nesterov"))] = (
        Field(0.9, ge=0.0, lt=1.0, description=(
            "Velocity decay of SGD with momentum or Nesterov: the fraction of the previous step kept (0.9 typical).")))
    rho: Annotated[float, Setting("Rho (decay)", step=0.01, decimals=3, optimizers=("rmsprop",))] = Field(
        0.9, gt=0.0, lt=1.0, description="RMSProp's decay of the squared-gradient moving average (0.9 typical).")
    beta_1: Annotated[float, Setting("Beta 1", step=0.01, decimals=3, optimizers=ADAM_OPTIMIZERS)] = Field(
        0.9, ge=0.0, lt=1.0, description="Decay of the gradient moving average (first moment, 0.9 typical).")
    beta_2: Annotated[float, Setting("Beta 2", step=0.001, decimals=5, optimizers=ADAM_OPTIMIZERS)] = Field(
        0.999, ge=0.0, lt=1.0, description=(
            "Decay of the squared-gradient moving average (second moment, 0.999 typical)."))
    epsilon: Annotated[Positive, _rate("Epsilon", 1e-12, ADAPTIVE_OPTIMIZERS)] = Field(1e-8, description=(
        "Added to the denominator so tiny squared-gradient averages cannot blow the step up."))
    weight_decay: Annotated[float, _rate("Weight decay", 1e-9, ("adamw",))] = Field(1e-4, ge=0.0, description=(
        "AdamW's decoupled decay: each step shrinks the weights by lr x this, apart from the gradient."))
    initial_accumulator: Annotated[float, _rate("Initial accumulator", 1e-9, ("adagrad",))] = Field(
        0.1, ge=0.0, description="AdaGrad's starting value of each weight's sum of squared gradients.")
    clipnorm: Annotated[float | None, Setting("Clip gradient norm", step=0.5, decimals=2, most=1000.0, off="off",
                                              optimizers=STEP_OPTIMIZERS)] = Field(
        None, gt=0.0, description="Rescale each gradient whose norm exceeds this; off: no clipping.")
    ema: Annotated[float | None, Setting("Polyak average (decay)", step=0.005, decimals=4, off="off", flag_const=0.99,
                                         metavar="DECAY", optimizers=STEP_OPTIMIZERS)] = Field(
        None, gt=0.0, lt=1.0, description=(
            "Polyak averaging: keep avg = decay x avg + (1 - decay) x weights after every step; validation and "
            "the saved model use the average (0.99 typical; off: none)."))


class ScheduleSettings(_Section):
    name: Annotated[ScheduleName, Setting("Schedule", flag="schedule", metavar="NAME", labels={
        "constant": "Constant", "step": "Step decay", "exponential": "Exponential decay",
        "inverse-time": "Inverse-time (1/t) decay", "cosine": "Cosine decay",
        "cosine-restarts": "Cosine with warm restarts", "plateau": "Reduce on plateau",
    })] = Field("cosine", description="How the learning rate changes over the run.")
    warmup_epochs: Annotated[float, Setting("Warm-up (epochs)", step=0.5, decimals=1, most=1000.0, off="none")] = (
        Field(0.0, ge=0.0, description="Linear warm-up from 0 before the schedule, in epochs (any schedule)."))
    step_epochs: Annotated[int, Setting("Every (epochs)", most=1000, schedules=("step",))] = Field(
        10, ge=1, description="Step decay: multiply the learning rate by gamma every k epochs.")
    gamma: Annotated[float, Setting("Multiply by", step=0.05, decimals=2, schedules=("step",))] = Field(
        0.1, gt=0.0, le=1.0, description="Step decay: the factor gamma applied every k epochs.")
    decay_rate: Annotated[float, Setting("Factor per epoch", step=0.01, decimals=3, schedules=("exponential",))] = (
        Field(0.9, gt=0.0, le=1.0, description="Exponential decay: the learning-rate factor per epoch."))
    inverse_time_rate: Annotated[float, Setting("Rate k (per epoch)", step=0.1, decimals=3,
                                                schedules=("inverse-time",))] = Field(
        0.5, gt=0.0, le=100.0, description="Inverse-time (1/t) decay: LR = LR0 / (1 + rate x epochs done).")
    min_lr_fraction: Annotated[float, Setting("Floor (× LR)", step=0.05, decimals=2,
                                              schedules=("cosine", "cosine-restarts"))] = Field(
        0.0, ge=0.0, lt=1.0, description="Cosine: the lowest learning rate, as a fraction of the learning rate.")
    restart_epochs: Annotated[float, Setting("First period (epochs)", step=0.5, decimals=1, most=1000.0,
                                             schedules=("cosine-restarts",))] = Field(
        5.0, gt=0.0, description="Cosine restarts: length of the first period, in epochs.")
    period_multiplier: Annotated[float, Setting("Period growth", step=0.5, decimals=1, most=10.0,
                                                schedules=("cosine-restarts",))] = Field(
        2.0, ge=1.0, description="Cosine restarts: each period is this much longer than the one before.")
    amplitude_multiplier: Annotated[float, Setting("Peak factor per restart", step=0.01, decimals=3,
                                                   schedules=("cosine-restarts",))] = Field(
        1.0, gt=0.0, le=1.0, description="Cosine restarts: each restart's peak is this times the one before.")
    plateau_factor: Annotated[float, Setting("Multiply by", step=0.01, decimals=3, schedules=("plateau",))] = Field(
        0.5, gt=0.0, lt=1.0, description="Reduce on plateau: the learning-rate factor when the val loss stalls.")
    plateau_patience: Annotated[int, Setting("Patience (epochs)", most=1000, schedules=("plateau",))] = Field(
        2, ge=1, description="Reduce on plateau: epochs without improvement before reducing.")
    plateau_min_lr: Annotated[float, Setting("Lowest LR", step=1e-6, decimals=8, most=1.0,
                                             schedules=("plateau",))] = Field(
        1e-6, ge=0.0, description="Reduce on plateau: the learning rate is never lowered below this.")


def _augmentation(label: str, on_value: Any, **more: Any) -> Setting:
    """An augmentation: no flag of its own (--augment NAMES switches it on at `on_value`)."""
    return Setting(label, on_value=on_value, flag=None, **more)


class AugmentSettings(_Section):
    """Strengths; 0 (or False) switches an augmentation off."""

    flip: Annotated[bool, _augmentation("Horizontal flip", True)] = Field(
        False, description="Mirror images left to right at random.")
    vflip: Annotated[bool, _augmentation("Vertical flip", True)] = Field(
        False, description="Mirror images top to bottom at random.")
    rotate: Annotated[float, _augmentation("Rotation", 15.0, unit=" °", step=5.0, decimals=0)] = Field(
        0.0, ge=0.0, le=180.0, description="Maximum rotation in degrees.")
    zoom: Annotated[float, _augmentation("Zoom", 0.1, step=0.05, decimals=2)] = Field(
        0.0, ge=0.0, lt=1.0, description="Maximum zoom in or out, as a fraction.")
    translate: Annotated[float, _augmentation("Shift", 0.1, step=0.05, decimals=2)] = Field(
        0.0, ge=0.0, lt=1.0, description="Maximum shift as a fraction of the size.")
    contrast: Annotated[float, _augmentation("Contrast", 0.2, step=0.05, decimals=2)] = Field(
        0.0, ge=0.0, lt=1.0, description="Maximum contrast change, as a fraction.")
    brightness: Annotated[float, _augmentation("Brightness", 0.2, step=0.05, decimals=2)] = Field(
        0.0, ge=0.0, lt=1.0, description="Maximum brightness change, as a fraction.")

    @property
    def enabled(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name)]

    @classmethod
    def from_names(cls, names: list[str]) -> AugmentSettings:
        """The named augmentations switched on at their declared strength (--augment flip,rotate)."""
        unknown = [n for n in names if n not in cls.model_fields]
        if unknown:
            raise ProjectError(
                f"unknown augmentation {unknown[0]!r}; choose from: {', '.join(cls.model_fields)}")
        return cls(**{name: find_spec(cls, name).setting.on_value for name in names})


class FineTuneSettings(_Section):
    """Phase 2 of the textbook recipe: unfreeze the top layers, continue with a smaller LR."""

    epochs: Annotated[int, Setting("Phase 2 epochs", most=10000, on_value=5, flag="fine-tune-epochs")] = (
        Field(0, ge=0, description="Epochs of phase 2; 0 trains in one phase."))
    unfreeze: Annotated[int, Setting("Layers to unfreeze", most=5000)] = Field(
        20, ge=1, description="Backbone layers, counted from the top, that phase 2 trains.")
    lr_factor: Annotated[float, Setting("LR factor", log_scale=True, least=1e-4, most=1.0,
                                        flag="fine-tune-lr-factor")] = Field(
        0.01, gt=0.0, le=1.0, description="Phase 2 learning rate = phase 1 learning rate × this factor.")

    @property
    def enabled(self) -> bool:
        return self.epochs > 0


_AUTO_ON_OFF = {"auto": "Auto", "on": "On", "off": "Off"}


def _speed(label: str, **more: Any) -> Setting:
    """A speed setting: none changes what is learned beyond floating-point rounding."""
    return Setting(label, group="speed", **more)


class TrainingSettings(_Section):
    epochs: Annotated[int, Setting("Epochs", most=10000)] = Field(20, ge=1, description=(
        "Passes over the training images (phase 1 when fine-tuning in two phases)."))
    batch_size: Annotated[int, Setting("Batch size")] = Field(32, ge=1, le=4096, description=(
        "Images per optimizer step; lower it if memory runs out."))
    seed: Annotated[int, Setting("Random seed", most=2**31 - 1)] = Field(42, ge=0, description=(
        "The same seed gives the same split, shuffling, augmentation and initial weights."))
    early_stopping: Annotated[int, Setting("Early stopping", most=1000, off="off", metavar="PATIENCE")] = Field(
        0, ge=0, description="Stop after this many epochs without a lower validation loss (0: off).")
    fine_tune: FineTuneSettings = Field(default_factory=FineTuneSettings)
    class_weights: Annotated[Literal["off", "balanced"], Setting("Class weights", labels={
        "off": "Off", "balanced": "Balanced"})] = Field("off", description=(
            "Balanced: weight each class's loss by n / (classes x its count), so a rare class counts as much as a "
            "common one."))
    balanced_sampling: Annotated[bool, Setting("Balanced sampling")] = Field(False, description=(
        "Draw every class equally often in each batch (rare classes' images repeat more often)."))
    snapshot_ensemble: Annotated[int, Setting("Snapshot ensemble", unit=" cycles", off="off", metavar="K")] = Field(
        0, ge=0, le=50, description=(
            "With cosine restarts: the run's model averages the snapshots kept at its last K cycle ends "
            "(Huang et al. 2017); 0 keeps the best model as usual."))
    tensorboard: Annotated[bool, Setting("Write TensorBoard logs")] = Field(False, description=(
        "Write TensorBoard event files (per-epoch loss, accuracy, learning rate) to the run's tensorboard/ folder; "
        "open them with: tensorboard --logdir <runs folder>."))
    # Speed. None of these changes what is learned beyond floating-point rounding.
    feature_cache: Annotated[bool, _speed("Feature cache")] = Field(True, description=(
        "With the whole backbone frozen, run it once per image and train the head on the cached features: many "
        "times faster, the same model."))
    feature_runtime: Annotated[Literal["auto", "tensorflow"], _speed("Backbone runtime", labels={
        "auto": "Auto", "tensorflow": "TensorFlow"})] = Field("auto", description=(
            "What runs the frozen backbone for the feature cache. Auto: ONNX Runtime, faster on a CPU, once its "
            "features match TensorFlow's on the first images (else TensorFlow, with the reason in the log). The "
            "saved model is the same either way."))
    augmented_copies: Annotated[int, _speed("Cached augmented copies", off="none")] = Field(
        0, ge=0, le=64, description=(
            "With augmentation on, cache this many augmented copies of each image's features (0: no cache); used "
            "while the whole backbone is frozen and the feature cache is on."))
    image_cache: Annotated[bool, _speed("Image cache")] = Field(True, description=(
        "Keep decoded images in the user cache folder between runs: skips decoding when the files, the image "
        "size and the resize policy are unchanged."))
    mixed_precision: Annotated[Literal["auto", "off", "float16", "bfloat16"], _speed("Mixed precision", labels={
        "auto": "Auto", "off": "Off"})] = Field("auto", description=(
            "Compute in 16-bit, with the output layer and every variable in float32 (the saved model is float32). "
            "Auto: bfloat16 on Ampere or newer GPUs, float16 on Volta/Turing; on a CPU, bfloat16 when it has "
            "AVX512_BF16 or AMX and backbone layers train, else off."))
    xla: Annotated[Literal["auto", "on", "off"], _speed("XLA", labels=_AUTO_ON_OFF)] = Field(
        "auto", description=("Compile the training step with XLA into fused kernels: faster on a GPU, a slower "
                             "first epoch. Auto: on a GPU only."))
    deterministic: Annotated[Literal["auto", "on", "off"], _speed("Deterministic", labels=_AUTO_ON_OFF)] = (
        Field("auto", description=(
            "TensorFlow's op determinism: bit-identical runs on any device, at a cost in speed (and no XLA). "
            "Auto: off; seeded runs on the CPU repeat without it.")))
    backend: Annotated[KerasBackend, Setting("Backend", group="devices", labels={
        "auto": "Auto", "tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"})] = Field("auto", description=(
            "The Keras backend the training process runs on; the saved model is the same. Auto: TensorFlow when it "
            "sees a GPU, else JAX when it sees one, else PyTorch when it sees CUDA or Apple's MPS, else TensorFlow "
            "on the CPU. JAX and PyTorch reach GPUs on Windows and macOS, where TensorFlow does not."))
    # Scale-out: TensorFlow's own tf.distribute strategies (tlstudio/train/distribute.py).
    strategy: Annotated[DistributionStrategy, Setting("Devices", group="devices", labels={
        "auto": "Auto", "mirrored": "Mirrored", "multi-worker": "Multi-worker"})] = Field("auto", description=(
            "How the run spreads over devices (TensorFlow's tf.distribute); each step's batch is split across "
            "them. Auto: one device, or every GPU when there are several. Mirrored: every GPU of this machine (or "
            "training.devices). Multi-worker: several machines, each running tlstudio train with the cluster in "
            "TF_CONFIG (see the README)."))
    devices: Annotated[list[str], Setting("Mirrored devices", group="devices", metavar="LIST")] = Field(
        default_factory=list, description=(
            "With the mirrored strategy: the devices to mirror over, e.g. GPU:0,GPU:1; empty means every local GPU "
            "(or, without a GPU, every logical CPU device); the other strategies ignore it."))

    @field_validator("devices")
    @classmethod
    def _device_names(cls, devices: list[str]) -> list[str]:
        for name in devices:
            if not DEVICE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a device name; write them like GPU:0 or CPU:1")
        names = [name.upper() for name in devices]
        if len(set(names)) < len(names):
            raise ValueError("a device is listed twice; list each device once")
        return names


AUGMENTATION_NAMES: tuple[str, ...] = tuple(AugmentSettings.model_fields)
