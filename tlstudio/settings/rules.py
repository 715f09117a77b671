"""Rules between settings that the GUI shows and the CLI applies alike: what choosing another backbone
resets, and when cached augmented copies apply and what they cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlstudio.backbones.registry import get_backbone
from tlstudio.base.text import format_bytes
from tlstudio.settings.project import Project


def backbone_changes(project: Project, backbone: str) -> dict[str, Any]:
    """The dotted changes that choosing `backbone` makes: the backbone itself; an input size below its minimum
    goes back to its default; a frozen layer count goes back to "all", as a count means nothing on another
    network. An unknown name is left for the Project's validation to refuse."""
    changes: dict[str, Any] = {"model.backbone": backbone}
    model = project.model
    if backbone == model.backbone:
        return changes
    try:
        spec = get_backbone(backbone)
    except KeyError:
        return changes
    if model.image_size is not None and model.image_size < spec.min_size:
        changes["model.image_size"] = None
    if isinstance(model.freeze, int):
        changes["model.freeze"] = "all"
    return changes


def with_backbone(project: Project, backbone: str) -> Project:
    """`project` with `backbone` chosen (backbone_changes); ProjectError naming the field if it is refused."""
    return project.copy_with(**backbone_changes(project, backbone))


def augmented_copies_cost(copies: int, train_images: int | None, feature_width: int | None) -> str:
    """One line on what caching `copies` augmented copies of each training image costs."""
    if copies <= 0:
        return ("None cached: with augmentation on, every step runs the backbone on freshly augmented images "
                "(no feature cache).")
    if train_images:
        passes = f"{copies} × {train_images:,} = {copies * train_images:,} backbone passes"
    else:
        passes = f"{copies} × the training images in backbone passes"
    if train_images and feature_width:
        memory = (f"{copies} × {train_images:,} × {feature_width:,} features × 4 bytes = "
                  f"{format_bytes(copies * train_images * feature_width * 4)}")
    else:
        memory = "a few MB"
    epochs = f"{copies} epoch{'s' if copies != 1 else ''}"
    return f"Costs {passes} once, before the first epoch (the backbone time of about {epochs}), and {memory} " \
           "of memory."


@dataclass(frozen=True)
class CachedCopies:
    """Whether the cached-augmented-copies setting applies to a project, and a line saying what it does."""

    applies: bool
    note: str


def cached_copies(project: Project, train_images: int | None) -> CachedCopies:
    """Cached augmented copies apply only with augmentation on; what they cost, and that none are cached
    while the feature cache is off."""
    if not project.augment.enabled:
        return CachedCopies(False, "Switch on an augmentation to cache augmented copies of each image's backbone "
                                   "features.")
    copies = project.training.augmented_copies
    note = augmented_copies_cost(copies, train_images, get_backbone(project.model.backbone).feature_width)
    if copies and not project.training.feature_cache:
        note += " The feature cache is off in Speed, so none are cached."
    return CachedCopies(True, note)
