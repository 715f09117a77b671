"""The Project: every setting a run needs, validated, saved as JSON.

The GUI's widgets and the CLI's flags both write into one `Project`; nothing else holds
settings. Bad values are rejected with a message that names the field. Its sections, each field
declared once with its label, help, bounds and flag, are in settings/sections.py; `describe`
reads one field's declaration.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tlstudio.base.files import write_text_atomic
from tlstudio.data.duplicates import duplicate_groups
from tlstudio.data.images import ImageInput
from tlstudio.data.scan import DatasetIndex
from tlstudio.data.split import Split, split_index
from tlstudio.settings.fields import FieldLimits, FieldSpec, declared_specs, find_spec
from tlstudio.settings.sections import (
    AUGMENTATION_NAMES,
    BACKEND_NAMES,
    DEVICE_NAME,
    FULL_BATCH_OPTIMIZERS,
    OPTIMIZER_NAMES,
    RESIZE_POLICIES,
    SCHEDULE_NAMES,
    STEP_OPTIMIZERS,
    STRATEGY_NAMES,
    WEIGHTS_KEYWORDS,
    AugmentSettings,
    DataSettings,
    DistributionStrategy,
    FineTuneSettings,
    ModelSettings,
    OptimizerName,
    OptimizerSettings,
    ProjectError,
    ResizePolicy,
    ScheduleName,
    ScheduleSettings,
    TrainingSettings,
)

__all__ = [
    "AUGMENTATION_NAMES", "BACKEND_NAMES", "DEVICE_NAME", "FULL_BATCH_OPTIMIZERS", "OPTIMIZER_NAMES", "RESIZE_POLICIES",
    "SCHEDULE_NAMES", "SCHEMA_VERSION", "STEP_OPTIMIZERS", "STRATEGY_NAMES", "WEIGHTS_KEYWORDS", "AugmentSettings",
    "DataSettings", "DistributionStrategy", "FieldLimits", "FieldSpec", "FineTuneSettings", "ModelSettings",
    "OptimizerName", "OptimizerSettings", "Project", "ProjectError", "ResizePolicy", "ScheduleName",
    "ScheduleSettings", "TrainingSettings", "declared_fields", "describe", "describe_validation_error",
    "relative_name",
]

SCHEMA_VERSION = 1


def relative_name(path: Path, root: Path) -> str:
    """How the project file names a data file: its path relative to the data folder, with forward slashes."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


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


def describe(key: str) -> FieldSpec:
    """The declaration of the dotted Project field `key`, e.g. describe("optimizer.beta_1"): label, help, type,
    default, bounds, flag and where it applies. KeyError for a key that is not a declared setting."""
    return find_spec(Project, key)


def declared_fields() -> list[FieldSpec]:
    """Every declared Project field, section by section in declaration order."""
    return declared_specs(Project)


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
