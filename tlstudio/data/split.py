"""Split a scanned dataset into train / validation (/ test) image lists.

The automatic split is stratified (every class keeps the same share in validation) and depends
only on the seed and the set of files, not on the order the file system lists them in, so the
same folder and seed always give the same split on any machine.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tlstudio.data.dataset_index import DatasetIndex, ImageItem
from tlstudio.data.images import DataError


@dataclass
class Split:
    """The images of each split; ``test`` is empty unless the folder gave a test/ split."""

    train: list[ImageItem] = field(default_factory=list)
    val: list[ImageItem] = field(default_factory=list)
    test: list[ImageItem] = field(default_factory=list)


def split_index(index: DatasetIndex, val_split: float = 0.2, seed: int = 42,
                groups: Sequence[Sequence[Path]] = ()) -> Split:
    """Splits ``index``: the given train/val/test folders if it has them, else a seeded stratified split.

    Auto mode holds out ``max(1, round(val_split * n))`` images of each class, keeping at least one
    for training. Each of ``groups`` (paths of copies of one picture) lands wholly on one side, drawn
    with the class of its first path; without groups the split is the plain per-image one. Raises
    ``DataError`` when the index has blocking errors or a class has < 2 images.
    """
    if not index.ok:
        raise DataError(index.errors[0])
    if index.split_mode == "given":
        given = Split()
        for item in sorted(index.items, key=lambda it: (it.label, str(it.path))):
            getattr(given, item.split or "train").append(item)
        return given
    if not 0.0 < val_split < 1.0:
        raise ValueError(f"val_split must be between 0 and 1 (exclusive), got {val_split}")

    by_class: dict[int, list[ImageItem]] = defaultdict(list)
    for item in index.items:
        by_class[item.label].append(item)
    units_of = _units(index.items, groups)
    rng = np.random.default_rng(seed)
    result = Split()
    # Classes in label order and paths sorted: the random draws then depend only on the seed.
    for label, name in enumerate(index.classes):
        items = sorted(by_class[label], key=lambda it: str(it.path))
        n = len(items)
        if n < 2:
            raise DataError(f"class '{name}' has only {n} image{'s' if n != 1 else ''}: a validation split "
                            "needs at least 2 per class; add images or use train/ and val/ folders")
        n_val = min(max(1, round(val_split * n)), n - 1)
        units = units_of.get(label, [])
        held, val_units = 0, set()
        for u in rng.permutation(len(units)).tolist():
            own = sum(1 for item in units[u] if item.label == label)
            if held < n_val and n - held - own >= 1:
                held += own
                val_units.add(u)
        # Each side in path order, as before groups existed: the same seed gives the same batches.
        for u, unit in enumerate(units):
            (result.val if u in val_units else result.train).extend(unit)
    return result


def _units(items: list[ImageItem], groups: Sequence[Sequence[Path]]) -> dict[int, list[list[ImageItem]]]:
    """Per class, the items drawn together: a group of copies (under the class of its first path), else
    one image; in path order. Without groups, one unit per image: the plain stratified split."""
    by_path = {str(item.path): item for item in items}
    grouped: dict[str, list[ImageItem]] = {}
    for group in groups:
        members = sorted({str(p) for p in group if str(p) in by_path})
        if len(members) > 1 and not any(m in grouped for m in members):
            unit = [by_path[m] for m in members]
            for m in members:
                grouped[m] = unit
    units: dict[int, list[list[ImageItem]]] = defaultdict(list)
    for item in sorted(items, key=lambda it: str(it.path)):
        unit = grouped.get(str(item.path), [item])
        if unit[0] is item:
            units[item.label].append(unit)
    return units


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches in one pass over ``n`` images, the last partial batch included."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return math.ceil(n / batch_size)
