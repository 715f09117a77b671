"""The flags that write into the project: `tlstudio train`, `lr-find` and `race` share them.

Every flag is made from its field's declaration (settings/sections.py): its name, type, choices, metavar,
help and the default the help shows. Only --augment NAMES (switches augmentations on at their declared
strength) is written here by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tlstudio.settings.project import (
    AUGMENTATION_NAMES,
    AugmentSettings,
    FieldSpec,
    Project,
    ProjectError,
    declared_fields,
    describe,
)
from tlstudio.settings.rules import with_backbone

# The argument groups of `tlstudio train --help`, in order: a declaration's group, else its section.
GROUP_TITLES = {
    "data": "data",
    "model": "model",
    "optimizer": "optimizer",
    "schedule": "learning-rate schedule",
    "training": "training loop",
    "augment": "augmentation",
    "training.fine_tune": "fine-tuning (phase 2)",
    "devices": "devices: the Keras backend and tf.distribute",
    "speed": "speed (none changes what is learned beyond rounding)",
}
FLAG_SPECS: dict[str, FieldSpec] = {spec.dest: spec for spec in declared_fields() if spec.dest}
# flag's dest -> dotted Project field it writes
FLAG_FIELDS: dict[str, str] = {dest: spec.key for dest, spec in FLAG_SPECS.items()}


def choices(names) -> str:
    """Names for a help text: "a, b, c"."""
    return ", ".join(names)


def comma_list(text: str) -> list[str]:
    """A flag's "a,b, c" as ["a", "b", "c"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def shown_default(value: Any) -> str:
    """A default as a help text shows it: 0.01, 1e-08, on, off, center-crop."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def flag_help(spec: FieldSpec) -> str:
    """The field's help, what reads it, and its default (read from the field, never restated)."""
    text = spec.help.rstrip(".")
    if spec.choices and spec.setting.metavar:
        text += f". One of: {choices(spec.choices)}"
    text += _readers(spec)
    if spec.setting.flag_const is not None:
        text += f"; the flag alone means {shown_default(spec.setting.flag_const)}"
    if spec.has_default and spec.default is not None:
        text += f" (default {shown_default(spec.default)})"
    return text.replace("%", "%%")  # argparse formats help with %


def _readers(spec: FieldSpec) -> str:
    """Which optimizers or schedules read an optimizer or schedule parameter, in a few words."""
    readers = spec.setting.optimizers or spec.setting.schedules
    if not readers:
        return ""
    every = describe(f"{spec.section}.name").choices
    others = [name for name in every if name not in readers]
    if len(others) < len(readers):
        return f" (read by every {spec.section} but {choices(others)})"
    return f" (read by {choices(readers)})"


def add_flag(group, spec: FieldSpec) -> None:
    """The flag of one declared field. Every flag defaults to None, so an unset flag leaves the project's value."""
    options: dict[str, Any] = {"default": None, "help": flag_help(spec), "dest": spec.dest}
    if spec.kind is bool:
        options["action"] = argparse.BooleanOptionalAction
    else:
        options["type"] = {int: int, float: float, list: comma_list}.get(spec.kind, str)
        options["metavar"] = spec.setting.metavar
        if spec.choices:
            options["choices"] = spec.choices
        if spec.setting.flag_const is not None:
            options.update(nargs="?", const=spec.setting.flag_const)
    group.add_argument(spec.flag, **options)


def add_project_flags(command: argparse.ArgumentParser) -> None:
    """The flags that write into the project (FLAG_FIELDS), for train, lr-find and race."""
    groups = {key: command.add_argument_group(title) for key, title in GROUP_TITLES.items()}
    for spec in FLAG_SPECS.values():
        add_flag(groups[spec.setting.group or spec.section], spec)
    groups["augment"].add_argument(
        "--augment", metavar="NAMES",
        help=f"comma list of: {choices(AUGMENTATION_NAMES)} (or none), each switched on at its usual strength")


def _flag_error(dest: str, value: Any, error: ProjectError) -> ProjectError:
    """One line naming the flag and its value, with the project's reason."""
    reason = str(error).split(": ", 2)[-1]
    shown = ",".join(value) if isinstance(value, list) else value
    return ProjectError(f"--{dest.replace('_', '-')} {shown}: {reason}")


def resolve_project(args) -> Project:
    """The project file (or defaults) with every given flag written into it, validated.

    A new --backbone goes first, with the rule a backbone change brings (settings/rules.py), so that
    --image-size and --freeze given beside it win over the reset."""
    project = Project.load(args.project) if args.project else Project()
    if getattr(args, "backbone", None) is not None:
        try:
            project = with_backbone(project, args.backbone)
        except ProjectError as error:
            raise _flag_error("backbone", args.backbone, error) from None
    for dest, dotted in FLAG_FIELDS.items():
        value = getattr(args, dest, None)
        if value is None or dest == "backbone":
            continue
        if dotted == "data.folder":
            value = str(Path(value).expanduser().resolve())
        try:
            project = project.copy_with(**{dotted: value})
        except ProjectError as error:
            raise _flag_error(dest, value, error) from None
    if args.augment is not None:
        names = [n.strip() for n in args.augment.split(",") if n.strip() and n.strip() != "none"]
        try:
            augment = AugmentSettings.from_names(names)
        except ProjectError as error:
            raise ProjectError(f"--augment: {error}") from None
        project = project.model_copy(update={"augment": augment})
    if project.data.folder is None:
        raise ProjectError("no data folder: give --data FOLDER or a project file that sets data.folder.")
    return project
