"""Splitting: stratified, seeded, independent of listing order; given splits honoured."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from tlstudio.data import DataError, DatasetIndex, ImageItem, scan, split_index


def _paths(items: list[ImageItem]) -> list[Path]:
    return sorted(item.path for item in items)


def test_auto_split_is_stratified_and_covers_every_image_once(demo_folder: Path) -> None:
    index = scan(demo_folder)
    split = split_index(index, val_split=0.25, seed=1)
    assert split.test == []
    assert len(split.train) + len(split.val) == len(index.items)
    assert set(_paths(split.train)).isdisjoint(_paths(split.val))
    for label in range(len(index.classes)):
        assert sum(1 for it in split.val if it.label == label) == 3  # round(0.25 * 12) of each class
        assert sum(1 for it in split.train if it.label == label) == 9


def test_same_seed_same_split_other_seed_different(demo_folder: Path) -> None:
    index = scan(demo_folder)
    first, again = split_index(index, seed=7), split_index(index, seed=7)
    assert _paths(first.val) == _paths(again.val)
    assert _paths(split_index(index, seed=8).val) != _paths(first.val)


def test_split_does_not_depend_on_listing_order(demo_folder: Path) -> None:
    index = scan(demo_folder)
    shuffled = replace(index, items=random.Random(3).sample(index.items, len(index.items)))
    assert _paths(split_index(shuffled, seed=5).val) == _paths(split_index(index, seed=5).val)


def _index(counts: list[int]) -> DatasetIndex:
    classes = [f"c{i}" for i in range(len(counts))]
    items = [ImageItem(Path(f"/data/c{label}/{i}.png"), label) for label, n in enumerate(counts) for i in range(n)]
    return DatasetIndex(root=Path("/data"), classes=classes, items=items)


@pytest.mark.parametrize(("n", "val_split", "expected_val"), [(2, 0.2, 1), (3, 0.1, 1), (5, 0.9, 4), (10, 0.2, 2)])
def test_every_class_keeps_at_least_one_image_on_each_side(n: int, val_split: float, expected_val: int) -> None:
    split = split_index(_index([n, n]), val_split=val_split)
    for label in (0, 1):
        assert sum(1 for it in split.val if it.label == label) == expected_val
        assert sum(1 for it in split.train if it.label == label) == n - expected_val


def test_a_class_with_one_image_cannot_be_split() -> None:
    with pytest.raises(DataError, match="class 'c1' has only 1 image.*train/ and val/"):
        split_index(_index([5, 1]))


def test_an_index_with_errors_cannot_be_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        split_index(scan(tmp_path / "missing"))


def test_bad_val_split_is_refused() -> None:
    with pytest.raises(ValueError, match="val_split"):
        split_index(_index([4, 4]), val_split=1.0)


def test_given_split_is_honoured(tmp_path: Path) -> None:
    for split, n in (("train", 4), ("val", 2), ("test", 1)):
        for c, name in enumerate(("ant", "bee")):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), (c * 100, i * 40, len(split) * 30)).save(folder / f"{i}.png")
    index = scan(tmp_path)
    assert index.split_mode == "given" and index.ok, index.errors
    split = split_index(index, val_split=0.5, seed=0)  # val_split and seed do not apply
    assert {p.parent.parent.name for p in _paths(split.train)} == {"train"} and len(split.train) == 8
    assert {p.parent.parent.name for p in _paths(split.val)} == {"val"} and len(split.val) == 4
    assert {p.parent.parent.name for p in _paths(split.test)} == {"test"} and len(split.test) == 2
