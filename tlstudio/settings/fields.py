"""A setting declared once: the `Setting` a Project field carries beside its pydantic constraints, and the
`FieldSpec` read from both.

Each field of the settings sections (settings/sections.py) is annotated with a `Setting`: its label, unit,
the step and scale a form offers, its CLI flag and which optimizers or schedules read it (phase 2's settings
are a section of their own, training.fine_tune). Its default, bounds (ge/gt/le/lt) and help (the
description) stay pydantic's own. The CLI's flags (cli/options.py) and the GUI's form rows
(gui/widgets/field_rows.py) are made from the `FieldSpec`, so nothing else restates a label, a range, a
default or a help text (napari builds its preferences dialog from its pydantic settings alike).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


@dataclass(frozen=True)
class Setting:
    """What a form and the command line need to know about one field, beyond its type, default and bounds."""

    label: str
    unit: str = ""  # shown after the value in a form: " °", " px", " cycles"
    step: float | None = None  # a form's single step
    decimals: int | None = None  # the digits a form shows
    log_scale: bool = False  # a form steps along 1-2-5 per decade (rates such as 3e-4)
    least: float | None = None  # the lowest value a form offers where the field has no lower bound, or a log scale
    most: float | None = None  # the highest value a form offers where the field has no upper bound, or a log scale
    off: str = ""  # a form's text for its lowest value, which switches the setting off ("off", "none")
    on_value: Any = None  # the value a switch turns it on at (a ticked augmentation, --augment rotate)
    flag: str | None = ""  # the CLI flag without "--": "" derives it from the field name; None: no flag
    flag_const: Any = None  # what the flag means when given without a value (--ema alone)
    metavar: str | None = None
    group: str = ""  # the CLI's argument group; "" is the field's section
    labels: Mapping[str, str] = field(default_factory=dict)  # a choice's words in a form, by value
    choice_help: Mapping[str, str] = field(default_factory=dict)  # a choice's one-line description, by value
    optimizers: tuple[str, ...] = ()  # only these optimizers read it (empty: not an optimizer parameter)
    schedules: tuple[str, ...] = ()  # only these schedules read it (empty: every schedule, or none)


@dataclass(frozen=True)
class FieldLimits:
    """The bounds a Project field accepts (None: unbounded), so a form can offer exactly those."""

    minimum: float | None = None  # ge
    exclusive_minimum: float | None = None  # gt
    maximum: float | None = None  # le
    exclusive_maximum: float | None = None  # lt


@dataclass(frozen=True)
class FieldSpec:
    """One declared field as the CLI and the GUI read it: key, type, default, bounds, help and its `Setting`."""

    key: str  # dotted, e.g. "optimizer.beta_1"
    setting: Setting
    help: str  # the field's description
    kind: type  # bool, int, float, str or list
    optional: bool  # None is a value (it means off, or "the backbone's default")
    choices: tuple[str, ...]  # the values of a Literal (or declared labels); () when free
    limits: FieldLimits
    default: Any = None
    has_default: bool = False  # a plain default (not one made per project), which help texts may show

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    @property
    def section(self) -> str:
        return self.key.rsplit(".", 1)[0]

    @property
    def label(self) -> str:
        return self.setting.label

    @property
    def flag(self) -> str | None:
        """The CLI flag, e.g. "--beta-1"; None when the field has none."""
        if self.setting.flag is None:
            return None
        return "--" + (self.setting.flag or self.name.replace("_", "-"))

    @property
    def dest(self) -> str | None:
        """The flag's attribute on argparse's namespace, e.g. "beta_1"."""
        return self.flag[2:].replace("-", "_") if self.flag else None

    def label_of(self, value: Any) -> str:
        """A choice's words in a form ("SGD with momentum"), else the value itself."""
        return self.setting.labels.get(value, str(value))

    def help_of(self, value: Any) -> str:
        """A choice's one-line description ("" when it has none)."""
        return self.setting.choice_help.get(value, "")

    def display_unit(self, decimals: int) -> float:
        """The smallest change a form shows: 1 for whole numbers, else one in the last of `decimals` digits."""
        return 1.0 if self.kind is int else 10.0 ** -decimals

    def form_bounds(self, decimals: int = 0, switched: bool = False) -> tuple[float | None, float | None]:
        """The lowest and highest value a form offers: the field's bounds, an exclusive one moved in by one
        shown unit, the declared least/most where the field has no bound (or steps on a log scale). A
        `switched` form (a check box switches the value off) starts one unit above the off value."""
        limits, setting = self.limits, self.setting
        unit = self.display_unit(decimals)
        low = _first(limits.minimum, None if limits.exclusive_minimum is None else limits.exclusive_minimum + unit)
        high = _first(limits.maximum, None if limits.exclusive_maximum is None else limits.exclusive_maximum - unit)
        if setting.log_scale or low is None:
            low = _first(setting.least, low)
        if setting.log_scale or high is None:
            high = _first(setting.most, high)
        if switched and low is not None:
            low += unit
        if self.kind is int:
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
        return low, high

    def read_by_optimizer(self, optimizer: str) -> bool:
        """Whether the optimizer `optimizer` reads this field (an optimizer parameter it uses)."""
        return optimizer in self.setting.optimizers

    def read_by_schedule(self, schedule: str) -> bool:
        """Whether the schedule `schedule` reads this field (a field no schedule names is read by every one)."""
        return not self.setting.schedules or schedule in self.setting.schedules


def _first(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def _declaration(info: FieldInfo) -> Setting | None:
    return next((item for item in info.metadata if isinstance(item, Setting)), None)


def _section_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _limits(info: FieldInfo) -> FieldLimits:
    found: dict[str, float] = {}
    for constraint in info.metadata:
        for attribute in ("ge", "gt", "le", "lt"):
            if getattr(constraint, attribute, None) is not None:
                found[attribute] = getattr(constraint, attribute)
    return FieldLimits(found.get("ge"), found.get("gt"), found.get("le"), found.get("lt"))


def _kind(annotation: Any) -> tuple[type, bool, tuple[str, ...]]:
    """(kind, optional, Literal values) of a field's annotation."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return str, False, tuple(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            kind, _, choices = _kind(members[0])
            return kind, optional, choices
        return str, optional, ()  # a mix such as "all" or a layer count: the flag passes text to validate
    if origin is list:
        return list, False, ()
    return annotation, False, ()


def spec_of(key: str, info: FieldInfo, setting: Setting) -> FieldSpec:
    kind, optional, choices = _kind(info.annotation)
    has_default = info.default is not PydanticUndefined and info.default_factory is None
    return FieldSpec(key=key, setting=setting, help=info.description or "", kind=kind, optional=optional,
                     choices=choices or tuple(setting.labels), limits=_limits(info),
                     default=info.default if has_default else None, has_default=has_default)


def leaf_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """(dotted key, pydantic field) of every field of `model` that holds a value, sections walked into."""
    for name, info in model.model_fields.items():
        section = _section_model(info)
        if section is not None:
            yield from leaf_fields(section, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def declared_specs(model: type[BaseModel]) -> list[FieldSpec]:
    """The FieldSpec of every declared field of `model`, in declaration order."""
    specs = []
    for key, info in leaf_fields(model):
        setting = _declaration(info)
        if setting is not None:
            specs.append(spec_of(key, info, setting))
    return specs


def find_spec(model: type[BaseModel], key: str) -> FieldSpec:
    """The FieldSpec of the dotted field `key` of `model`; KeyError when there is none or it is undeclared."""
    *sections, name = key.split(".")
    for section in sections:
        info = model.model_fields.get(section)
        model = _section_model(info) if info is not None else None
        if model is None:
            raise KeyError(key)
    info = model.model_fields.get(name)
    setting = _declaration(info) if info is not None else None
    if setting is None:
        raise KeyError(key)
    return spec_of(key, info, setting)
