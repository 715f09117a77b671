"""The Project: every setting a run needs, validated, saved as JSON.

The GUI's widgets and the CLI's flags both write into one `Project`; nothing else holds
settings. Bad values are rejected with a message that names the field.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tlstudio.backbones.registry import BACKBONE_NAMES, get_backbone
from tlstudio.backbones.weight_sources import default_backbone
from tlstudio.base.files import write_text_atomic
from tlstudio.data.duplicates import duplicate_groups
from tlstudio.data.images import DEFAULT_MAX_MEGAPIXELS, DEFAULT_RESIZE, ImageInput
from tlstudio.data.scan import DatasetIndex
from tlstudio.data.split import Split, split_index

SCHEMA_VERSION = 1

OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs"]
ScheduleName = Literal["constant", "step", "exponential", "inverse-time", "cosine", "cosine-restarts", "plateau"]
ResizePolicy = Literal["stretch", "center-crop", "pad"]
DistributionStrategy = Literal["auto", "mirrored", "multi-worker"]
AUGMENTATION_NAMES = ("flip", "vflip", "rotate", "zoom", "translate", "contrast", "brightness")
OPTIMIZER_NAMES: tuple[str, ...] = OptimizerName.__args__
SCHEDULE_NAMES: tuple[str, ...] = ScheduleName.__args__
RESIZE_POLICIES: tuple[str, ...] = ResizePolicy.__args__
STRATEGY_NAMES: tuple[str, ...] = DistributionStrategy.__args__
DEVICE_NAME = re.compile(r"(?i)(GPU|CPU):\d+")

WEIGHTS_KEYWORDS = ("imagenet", "none")
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Positive = Annotated[float, Field(gt=0.0)]


def relative_name(path: Path, root: Path) -> str:
    """How the project file names a data file: its path relative to the data folder, with forward slashes."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


class ProjectError(ValueError):
    """A project file or setting the user must fix; the message is one sentence naming it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSettings(_Section):
    folder: str | None = Field(None, description="Folder of class sub-folders (or train/ and val/).")
    val_split: float = Field(0.2, gt=0.0, lt=1.0, description="Share of each class held out for validation.")
    resize: ResizePolicy = Field(DEFAULT_RESIZE, description="How images are fitted to the square input.")
    max_megapixels: float = Field(DEFAULT_MAX_MEGAPIXELS, gt=0.0,
                                  description="Images larger than this are refused from the header.")
    exclude: list[str] = Field(default_factory=list, description=(
        "Files left out of training and validation, as paths relative to the data folder; the files stay."))
    marked_fine: list[str] = Field(default_factory=list, description=(
        "Files the dataset health check flagged and the user marked fine (relative to the data folder)."))
    keep_duplicates_together: bool = Field(False, description=(
        "Keep every group of copies of one picture (same file or near-identical) on one side of the "
        "train/validation split, so no copy of a training image is validated on."))


class ModelSettings(_Section):
    backbone: str = Field(default_factory=default_backbone, description=(
        "A registry name; a new project starts with a pretrained one that loads right now."))
    image_size: int | None = Field(None, description="Input size in pixels; empty means the backbone's default.")
    weights: str = Field("imagenet", description="'imagenet', 'none', or the path of a weights file.")
    freeze: Union[Literal["all"], int] = Field(
        "all", description="'all', or the number of backbone layers (from the input) that are frozen.")
    train_batchnorm: bool = Field(False, description="Let BatchNorm layers of unfrozen blocks update.")
    dropout: Fraction = 0.2
    l2: float = Field(0.0, ge=0.0)
    label_smoothing: Fraction = 0.0

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


class OptimizerSettings(_Section):
    name: OptimizerName = "adam"
    # The default suits the default project: a frozen pretrained backbone and a linear head, which
    # Adam at 1e-3 barely moves in the few dozen steps a small dataset gives (78 % where 1e-2
    # reaches 94-100 % on the 4-class demo, SqueezeNet 1.1). Fine-tuning wants 1e-4 or less:
    # phase 2 multiplies this by fine_tune.lr_factor.
    learning_rate: Positive = 1e-2
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Velocity decay rho of SGD+momentum / Nesterov.")
    rho: float = Field(0.9, gt=0.0, lt=1.0, description="RMSProp's decay rate of the squared-gradient average.")
    beta_1: float = Field(0.9, ge=0.0, lt=1.0, description="Adam's first-moment decay.")
    beta_2: float = Field(0.999, ge=0.0, lt=1.0, description="Adam's second-moment decay.")
    epsilon: Positive = Field(1e-8, description="Added to the denominator of adaptive methods.")
    weight_decay: float = Field(1e-4, ge=0.0, description="AdamW's decoupled weight decay.")
    initial_accumulator: float = Field(0.1, ge=0.0, description="AdaGrad's starting sum of squares.")
    clipnorm: float | None = Field(None, gt=0.0, description="Clip each gradient to this norm.")
    ema: float | None = Field(None, gt=0.0, lt=1.0, description=(
        "Polyak averaging: keep an exponential moving average of the weights with this decay (e.g. 0.99); "
        "validation and the saved model use the average."))


class ScheduleSettings(_Section):
    name: ScheduleName = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0, description="Linear warm-up from 0 before the schedule.")
    step_epochs: int = Field(10, ge=1, description="Step decay: multiply by gamma every k epochs.")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="Step decay factor.")
    decay_rate: float = Field(0.9, gt=0.0, le=1.0, description="Exponential: LR factor per epoch.")
    inverse_time_rate: float = Field(0.5, gt=0.0, le=100.0, description=(
        "Inverse-time (1/t) decay: LR = LR0 / (1 + rate x epochs done)."))
    min_lr_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="Cosine floor as a fraction of the LR.")
    restart_epochs: float = Field(5.0, gt=0.0, description="Cosine restarts: length of the first period.")
    period_multiplier: float = Field(2.0, ge=1.0, description="Cosine restarts: each period is this much longer.")
    amplitude_multiplier: float = Field(1.0, gt=0.0, le=1.0, description="Cosine restarts: peak LR factor per restart.")
    plateau_factor: float = Field(0.5, gt=0.0, lt=1.0, description="Plateau: LR factor when val loss stalls.")
    plateau_patience: int = Field(2, ge=1, description="Plateau: epochs without improvement before reducing.")
    plateau_min_lr: float = Field(1e-6, ge=0.0, description="Plateau: the LR is never lowered below this.")


class AugmentSettings(_Section):
    """Strengths; 0 (or False) switches an augmentation off."""

    flip: bool = False
    vflip: bool = False
    rotate: float = Field(0.0, ge=0.0, le=180.0, description="Maximum rotation in degrees.")
    zoom: float = Field(0.0, ge=0.0, lt=1.0, description="Maximum zoom in or out, as a fraction.")
    translate: float = Field(0.0, ge=0.0, lt=1.0, description="Maximum shift as a fraction of the size.")
    contrast: float = Field(0.0, ge=0.0, lt=1.0, description="Maximum contrast change, as a fraction.")
    brightness: float = Field(0.0, ge=0.0, lt=1.0, description="Maximum brightness change, as a fraction.")

    # Strength a name switches on when given without one (CLI --augment flip,rotate).
    DEFAULT_STRENGTH: ClassVar[dict[str, Any]] = {
        "flip": True, "vflip": True, "rotate": 15.0, "zoom": 0.1, "translate": 0.1,
        "contrast": 0.2, "brightness": 0.2,
    }

    @property
    def enabled(self) -> list[str]:
        return [name for name in AUGMENTATION_NAMES if getattr(self, name)]

    @classmethod
    def from_names(cls, names: list[str]) -> AugmentSettings:
        unknown = [n for n in names if n not in AUGMENTATION_NAMES]
        if unknown:
            raise ProjectError(
                f"unknown augmentation {unknown[0]!r}; choose from: {', '.join(AUGMENTATION_NAMES)}")
        return cls(**{n: cls.DEFAULT_STRENGTH[n] for n in names})


class FineTuneSettings(_Section):
    """Phase 2 of the textbook recipe: unfreeze the top layers, continue with a smaller LR."""

    epochs: int = Field(0, ge=0, description="Epochs of phase 2; 0 trains in one phase.")
    unfreeze: int = Field(20, ge=1, description="Backbone layers (from the top) unfrozen in phase 2.")
    lr_factor: float = Field(0.01, gt=0.0, le=1.0, description="Phase 2 LR = phase 1 LR x this factor.")

    @property
    def enabled(self) -> bool:
        return self.epochs > 0


class TrainingSettings(_Section):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1, le=4096)
    seed: int = Field(42, ge=0)
    early_stopping: int = Field(0, ge=0, description="Patience in epochs; 0 switches early stopping off.")
    fine_tune: FineTuneSettings = Field(default_factory=FineTuneSettings)
    class_weights: Literal["off", "balanced"] = Field("off", description=(
        "Weight each class's loss by n / (classes x its count), so a rare class counts as much as a common one."))
    balanced_sampling: bool = Field(False, description=(
        "Draw every class equally often in each batch (rare classes' images repeat more often)."))
    snapshot_ensemble: int = Field(0, ge=0, le=50, description=(
        "With cosine restarts: the run's model averages the snapshots kept at its last K cycle ends "
        "(Huang et al. 2017); 0 keeps the best model as usual."))
    tensorboard: bool = Field(False, description=(
        "Write TensorBoard event files (per-epoch loss, accuracy, learning rate) to the run's tensorboard/ folder."))
    # Speed. None of these changes what is learned beyond floating-point rounding.
    feature_cache: bool = Field(True, description=(
        "With the whole backbone frozen, run it once per image and train the head on the cached features."))
    feature_runtime: Literal["auto", "tensorflow"] = Field("auto", description=(
        "What runs the frozen backbone for the feature cache (auto: ONNX Runtime when its features match "
        "TensorFlow's on the first images, which is faster on a CPU; else TensorFlow)."))
    augmented_copies: int = Field(0, ge=0, le=64, description=(
        "With augmentation on, cache this many augmented copies of each image's features (0: no cache)."))
    image_cache: bool = Field(True, description="Keep decoded images in the user cache folder between runs.")
    mixed_precision: Literal["auto", "off", "float16", "bfloat16"] = Field("auto", description=(
        "Compute in 16-bit (auto: bfloat16 on Ampere or newer GPUs, float16 on Volta/Turing; on a CPU, bfloat16 "
        "when it has AVX512_BF16 or AMX and backbone layers train, else off)."))
    xla: Literal["auto", "on", "off"] = Field("auto", description="XLA compilation (auto: on a GPU only).")
    deterministic: Literal["auto", "on", "off"] = Field("auto", description=(
        "TensorFlow's op determinism: bit-identical runs guaranteed on any device, at a cost in speed "
        "(auto: off; seeded runs on a CPU repeat without it)."))
    # Scale-out: TensorFlow's own tf.distribute strategies (tlstudio/train/distribute.py).
    strategy: DistributionStrategy = Field("auto", description=(
        "How a run spreads over devices: auto (one device, or mirrored over every GPU when there are several), "
        "mirrored (every local GPU, or the listed devices), multi-worker (several machines, cluster from TF_CONFIG)."))
    devices: list[str] = Field(default_factory=list, description=(
        "With the mirrored strategy: the devices to mirror over, e.g. [\"GPU:0\", \"GPU:1\"]; empty means every "
        "local GPU (or, without a GPU, every logical CPU device); the other strategies ignore it."))

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


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    name: str = "Untitled"
    data: DataSettings = Field(default_factory=DataSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    augment: AugmentSettings = Field(default_factory=AugmentSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value > SCHEMA_VERSION:
            raise ValueError(f"version {value} is newer than this TL Studio understands ({SCHEMA_VERSION}); "
                             "update TL Studio")
        return value

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any, source: str = "project") -> Project:
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ProjectError(describe_validation_error(error, source)) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Project:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProjectError(f"{path}: no such project file; check the path.") from None
        except OSError as error:
            raise ProjectError(f"{path}: cannot be read ({error.strerror}); check its permissions.") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ProjectError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: "
                               f"{error.msg}); fix the file or save the project again.") from None
        if not isinstance(data, dict):
            raise ProjectError(f"{path}: a project file must hold a JSON object; save the project again.")
        project = cls.from_dict(data, source=str(path))
        # A relative data folder is relative to the project file, so a project travels with its data.
        if project.data.folder and not Path(project.data.folder).expanduser().is_absolute():
            project.data.folder = str((path.parent / project.data.folder).resolve())
        return project

    def save(self, path: str | os.PathLike) -> None:
        write_text_atomic(Path(path), self.to_json() + "\n")

    @property
    def image_input(self) -> ImageInput:
        """How this project turns image files into model inputs (size, resize policy, pixel limit)."""
        return ImageInput(self.model.resolved_image_size, self.data.resize, self.data.max_megapixels)

    def included(self, index: DatasetIndex) -> DatasetIndex:
        """`index` without the files this project excludes (data.exclude): what it counts and splits."""
        excluded = set(self.data.exclude)
        if not excluded:
            return index
        return replace(index, items=[item for item in index.items
                                     if relative_name(item.path, index.root) not in excluded])

    def split(self, index: DatasetIndex) -> Split:
        """The train/validation split this project trains with: its val_split and seed, without the files it
        excludes, copies kept together when it says so; one rule for the trainer, the evaluation and the
        Data page. Raises DataError when the data cannot be split."""
        index = self.included(index)
        groups = []
        if self.data.keep_duplicates_together and index.split_mode == "auto":
            groups = duplicate_groups([item.path for item in index.items], max_megapixels=self.data.max_megapixels)
        return split_index(index, self.data.val_split, self.training.seed, groups)

    def copy_with(self, **changes: Any) -> Project:
        """A validated copy with dotted-path changes, e.g. copy_with(**{"optimizer.learning_rate": 0.01})."""
        data = self.to_dict()
        for dotted, value in changes.items():
            target = data
            *parents, leaf = dotted.split(".")
            for part in parents:
                target = target[part]
            target[leaf] = value
        return Project.from_dict(data, source="settings")


@dataclass(frozen=True)
class FieldLimits:
    """The bounds a Project field accepts (None: unbounded), so a form can offer exactly those."""

    minimum: float | None = None  # ge
    exclusive_minimum: float | None = None  # gt
    maximum: float | None = None  # le
    exclusive_maximum: float | None = None  # lt


def field_limits(key: str) -> FieldLimits:
    """The bounds of the dotted Project field `key`, e.g. field_limits("model.label_smoothing")."""
    model: type[BaseModel] = Project
    *sections, name = key.split(".")
    for section in sections:
        model = model.model_fields[section].annotation  # a nested settings section
    found: dict[str, float] = {}
    for constraint in model.model_fields[name].metadata:
        for attribute in ("ge", "gt", "le", "lt"):
            if getattr(constraint, attribute, None) is not None:
                found[attribute] = getattr(constraint, attribute)
    return FieldLimits(found.get("ge"), found.get("gt"), found.get("le"), found.get("lt"))


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One sentence naming the first bad field, e.g. `p.json: optimizer.learning_rate: ...`."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"] if not str(part).startswith("function-after"))
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if first["type"] == "extra_forbidden":
        message = "is not a setting TL Studio knows; remove it or check its spelling"
    where = f"{source}: field '{field}'" if field else source
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{where}: {message}{more}."
