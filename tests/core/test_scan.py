"""Scanning: what a person sees in the report for a real-world messy folder, and each blocking problem."""

from __future__ import annotations

import functools
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlstudio.data import DatasetIndex, ImageItem, scan
from tlstudio.data.folder_walk import (
    IGNORED_APPLEDOUBLE,
    IGNORED_EMPTY_FOLDER,
    IGNORED_HIDDEN,
    IGNORED_MACOSX,
    IGNORED_NOT_IMAGE,
    IGNORED_STRAY,
    IGNORED_SYSTEM,
)


def _picture(seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """A distinct noisy picture per seed (so no two test files have the same bytes by accident)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _good(path: Path, seed: int, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _picture(seed).save(path, fmt)
    return path


def _class(folder: Path, n: int, seed: int, ext: str = ".png") -> list[Path]:
    return [_good(folder / f"img_{i:03d}{ext}", seed * 1000 + i) for i in range(n)]


def _bytes_of(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@functools.cache
def _huge_png() -> bytes:
    """A real 20000×20000 PNG, ~50 KB on disk and 400 megapixels decoded; encoded once per session."""
    return _bytes_of(Image.new("1", (20000, 20000)), "PNG")


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# The one odd file of each kind, by name, and the start of the reason the report gives for it.
BAD_FILES = {
    "empty.jpg": "empty file (0 bytes)",
    "truncated.jpg": "truncated image data",
    "truncated.png": "truncated image data",
    "corrupt.png": "corrupt image:",
    "random_bytes.png": "not an image:",
    "text.jpg": "not an image:",
    "huge.png": "too large: 20000×20000 pixels is above the 64 MP limit",
}


def _messy_folder(root: Path) -> Path:
    """A dataset as people really have them: every special case of the scanner in one folder."""
    cats, dogs = root / "cats", root / "dogs"
    _class(cats, 6, seed=1)
    _class(dogs, 8, seed=2, ext=".jpg")
    # Accepted oddities, all in cats/ (11 files + 2 nested).
    _good(cats / "upper.JPG", 10, "JPEG")
    _good(cats / "png_content.jpg", 11, "PNG")
    _good(cats / "pic.webp", 12)
    _good(cats / "pic.tiff", 13)
    _good(cats / "pic.bmp", 14)
    _good(cats / "pic.gif", 15)
    _picture(16).convert("CMYK").save(cats / "cmyk.jpg")
    Image.fromarray(np.linspace(0, 65535, 40 * 32).reshape(32, 40).astype(np.uint16)).save(cats / "gray16.png")
    palette = _picture(17).convert("P")
    palette.save(cats / "palette_alpha.png", transparency=0)
    _picture(18).convert("LA").save(cats / "la.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    _picture(19).save(cats / "exif_rotated.jpg", exif=exif.tobytes())
    _good(cats / "2021" / "nested.png", 20)
    _good(cats / "2021" / "deeper" / "nested.jpeg", 21)
    # Unusable files: each one is skipped with its reason.
    jpeg, png = _bytes_of(_picture(30), "JPEG"), _bytes_of(_picture(31), "PNG")
    _write(cats / "empty.jpg", b"")
    _write(cats / "truncated.jpg", jpeg[: len(jpeg) // 2])
    _write(dogs / "truncated.png", png[: len(png) // 2])
    damaged = bytearray(png)
    damaged[60:-20] = bytes(b ^ 0x5A for b in damaged[60:-20])  # header intact, pixel data scrambled
    _write(cats / "corrupt.png", bytes(damaged))
    _write(cats / "random_bytes.png", np.random.default_rng(3).integers(0, 256, 500, dtype=np.uint8).tobytes())
    _write(dogs / "text.jpg", b"this is not a picture\n")
    _write(dogs / "huge.png", _huge_png())
    # Ignored entries, counted by kind.
    _good(cats / ".hidden.jpg", 40)
    _good(cats / ".thumbnails" / "t.jpg", 41)
    _write(cats / "._img_000.png", b"\x00\x05\x16\x07 AppleDouble")
    _write(cats / "Thumbs.db", b"thumbs")
    _write(dogs / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    _write(dogs / "desktop.ini", b"[.ShellClassInfo]")
    _write(cats / "notes.txt", b"some notes")
    _write(root / "__MACOSX" / "cats" / "._img_000.png", b"\x00\x05\x16\x07")
    _good(root / "stray.jpg", 42)
    _write(root / "README.txt", b"my dataset")
    (root / "empty_class").mkdir()
    return root


def _kind(reason: str) -> str:
    return reason.split(":")[0]


def test_messy_folder_gives_exact_classes_counts_skips_and_ignored(tmp_path: Path) -> None:
    index = scan(_messy_folder(tmp_path / "data"), workers=2)
    assert index.ok, index.errors
    assert index.split_mode == "auto"
    assert index.classes == ["cats", "dogs"]
    assert index.counts == {"cats": 6 + 11 + 2, "dogs": 8}
    assert all(item.split is None for item in index.items)
    cats = {item.path.name for item in index.items if item.label == 0}
    assert {"upper.JPG", "png_content.jpg", "pic.webp", "pic.tiff", "pic.bmp", "pic.gif", "cmyk.jpg", "gray16.png",
            "palette_alpha.png", "la.png", "exif_rotated.jpg", "nested.png", "nested.jpeg"} <= cats

    reasons = {s.path.name: s.reason for s in index.skipped}
    assert set(reasons) == set(BAD_FILES)
    for name, expected in BAD_FILES.items():
        assert reasons[name].startswith(expected), (name, reasons[name])

    assert index.ignored_by_reason == {
        IGNORED_HIDDEN: 2,  # .hidden.jpg and the .thumbnails folder
        IGNORED_APPLEDOUBLE: 1,
        IGNORED_MACOSX: 1,
        IGNORED_SYSTEM: 3,  # Thumbs.db, .DS_Store, desktop.ini
        IGNORED_NOT_IMAGE: 1,  # notes.txt
        IGNORED_STRAY: 2,  # stray.jpg and README.txt at the top level
        IGNORED_EMPTY_FOLDER: 1,
    }
    assert index.ignored == 11
    # dogs has 8 < 10 images: a warning, not an error.
    assert any("'dogs' (8)" in w for w in index.warnings)


def test_report_dict_and_text_report(tmp_path: Path) -> None:
    index = scan(_messy_folder(tmp_path / "data"))
    report = index.to_report_dict()
    assert {"classes", "counts", "images", "skipped", "ignored", "warnings", "errors"} <= set(report)
    assert set(report) - {"classes", "counts", "images", "skipped", "ignored", "warnings", "errors"} <= {
        "split_mode", "ignored_by_reason"}
    assert report["classes"] == ["cats", "dogs"]
    assert report["counts"] == {"cats": 19, "dogs": 8}
    assert report["images"] == 27
    assert {Path(s["path"]).name for s in report["skipped"]} == set(BAD_FILES)
    assert all(isinstance(s["path"], str) and s["reason"] for s in report["skipped"])
    assert report["ignored"] == 11 and report["errors"] == []
    json.dumps(report)  # plain data only

    text = index.format_report()
    assert "cats" in text and "19" in text and "70.4%" in text
    assert "dogs/huge.png: too large" in text
    assert "__MACOSX folders: 1" in text
    assert "Warnings:" in text and "Ready to train." in text


def test_progress_is_reported_up_to_the_total(demo_folder: Path) -> None:
    calls: list[tuple[int, int]] = []
    index = scan(demo_folder, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 36) and calls[-1] == (36, 36)
    assert index.ok and index.counts == {"circle": 12, "square": 12, "triangle": 12}
    assert index.warnings == []


def test_scan_is_deterministic_and_items_are_plain_values(demo_folder: Path) -> None:
    first, second = scan(demo_folder, workers=1), scan(demo_folder, workers=4)
    assert first.items == second.items
    assert isinstance(first.items[0], ImageItem)
    with pytest.raises(AttributeError):
        first.items[0].label = 2  # frozen


def test_class_order_is_case_insensitive_then_exact(tmp_path: Path) -> None:
    for i, name in enumerate(["b", "a", "C", "A"]):
        _class(tmp_path / name, 10, seed=i)
    assert scan(tmp_path).classes == ["A", "a", "b", "C"]


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    index = scan(tmp_path / "nowhere")
    assert not index.ok and "does not exist" in index.errors[0] and "nowhere" in index.errors[0]
    file = _write(tmp_path / "file.txt", b"x")
    index = scan(file)
    assert not index.ok and "not a folder" in index.errors[0]


def test_no_images_at_all(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    _write(tmp_path / "cats" / "notes.txt", b"x")
    index = scan(tmp_path)
    assert index.classes == [] and len(index.errors) == 1 and "No images found" in index.errors[0]
    # Images lying loose in the folder are not classes; the error says where they must go.
    _good(tmp_path / "a.jpg", 1)
    index = scan(tmp_path)
    assert "lie directly in it" in index.errors[0] and "sub-folder per class" in index.errors[0]


def test_fewer_than_two_classes(tmp_path: Path) -> None:
    _class(tmp_path / "only", 12, seed=1)
    index = scan(tmp_path)
    assert not index.ok
    assert index.classes == ["only"]
    assert "Only one class ('only')" in index.errors[0] and "at least two classes" in index.errors[0]


def test_class_with_no_usable_images_is_a_blocking_error(tmp_path: Path) -> None:
    _class(tmp_path / "a", 12, seed=1)
    _class(tmp_path / "b", 12, seed=2)
    _write(tmp_path / "broken" / "x.jpg", b"")
    _write(tmp_path / "broken" / "y.png", b"not a png")
    _write(tmp_path / "broken" / "z.jpg", b"\xff\xd8\xff\xe0 truncated")
    index = scan(tmp_path)
    assert index.classes == ["a", "b"]  # the broken folder is not a class...
    assert index.errors == ["Class 'broken' has no usable images (3 files skipped); fix or remove the folder."]
    assert len(index.skipped) == 3


def test_imbalance_and_few_images_warnings(tmp_path: Path) -> None:
    _class(tmp_path / "big", 40, seed=1)
    _class(tmp_path / "small", 12, seed=2)
    _class(tmp_path / "tiny", 4, seed=3)
    index = scan(tmp_path)
    assert index.ok
    imbalance = [w for w in index.warnings if "imbalanced" in w]
    assert len(imbalance) == 1 and "'big' has 40" in imbalance[0] and "'tiny' only 4" in imbalance[0]
    few = [w for w in index.warnings if "Few images" in w]
    assert len(few) == 1 and "'tiny' (4)" in few[0] and "small" not in few[0]


def test_balanced_classes_give_no_imbalance_warning(tmp_path: Path) -> None:
    _class(tmp_path / "a", 30, seed=1)
    _class(tmp_path / "b", 10, seed=2)  # exactly 3×: not above the threshold
    assert scan(tmp_path).warnings == []


def test_same_file_in_two_classes_is_a_warning(tmp_path: Path) -> None:
    a = _class(tmp_path / "a", 10, seed=1)
    _class(tmp_path / "b", 10, seed=2)
    shutil.copy(a[3], tmp_path / "b" / "copy.png")
    index = scan(tmp_path)
    duplicates = [w for w in index.warnings if "more than one class" in w]
    assert len(duplicates) == 1 and "a/img_003.png" in duplicates[0] and "b/copy.png" in duplicates[0]
    assert index.ok  # a warning: the person decides


def test_max_megapixels_is_configurable(tmp_path: Path) -> None:
    _class(tmp_path / "a", 2, seed=1)
    _class(tmp_path / "b", 2, seed=2)
    index = scan(tmp_path, max_megapixels=0.001)  # 40×32 = 0.00128 MP
    assert len(index.skipped) == 4 and all(s.reason.startswith("too large") for s in index.skipped)
    assert not index.ok


def _given_split(root: Path, val_name: str = "val") -> Path:
    _class(root / "Train" / "cat", 12, seed=1)
    _class(root / "Train" / "dog", 12, seed=2)
    _class(root / val_name / "cat", 3, seed=3)
    _class(root / val_name / "dog", 4, seed=4)
    _class(root / "test" / "cat", 2, seed=5)
    _class(root / "test" / "dog", 2, seed=6)
    return root


@pytest.mark.parametrize("val_name", ["val", "VALIDATION"])
def test_given_split_layout_is_used_as_given(tmp_path: Path, val_name: str) -> None:
    index = scan(_given_split(tmp_path, val_name))
    assert index.ok, index.errors
    assert index.split_mode == "given"
    assert index.classes == ["cat", "dog"]
    assert index.counts == {"cat": 17, "dog": 18}  # all splits together
    by_split = {split: sum(1 for it in index.items if it.split == split) for split in ("train", "val", "test")}
    assert by_split == {"train": 24, "val": 7, "test": 4}
    assert index.counts_by_split()["val"] == {"cat": 3, "dog": 4}
    assert "given" in index.format_report()


def test_given_split_with_a_class_missing_from_val_is_an_error(tmp_path: Path) -> None:
    root = _given_split(tmp_path)
    shutil.rmtree(root / "val" / "dog")
    index = scan(root)
    assert index.split_mode == "given"
    assert not index.ok
    assert len(index.errors) == 1 and "'dog'" in index.errors[0] and "val/" in index.errors[0]


def test_given_split_copies_across_splits_are_a_warning(tmp_path: Path) -> None:
    root = _given_split(tmp_path)
    shutil.copy(root / "Train" / "cat" / "img_000.png", root / "val" / "cat" / "copy.png")
    index = scan(root)
    assert index.ok
    assert any("copies of images in train/" in w for w in index.warnings)


def test_empty_index_defaults() -> None:
    index = DatasetIndex(root=Path("x"))
    assert index.ok and index.counts == {} and index.to_report_dict()["images"] == 0


def test_a_scan_for_training_decodes_each_file_once_and_exactly_as_training_would(demo_folder: Path,
                                                                                 monkeypatch) -> None:
    """One pass over the files: the scan's check is the decode that prepares the run's images, so
    preparing a run decodes no file twice; the arrays equal ImageInput.load's."""
    from tlstudio.data import images as images_module
    from tlstudio.settings.project import Project
    from tlstudio.train.events import RecordingObserver, StopToken
    from tlstudio.train.prepare import prepare_run

    project = Project().copy_with(**{"data.folder": str(demo_folder), "model.image_size": 40,
                                     "model.weights": "none", "training.image_cache": False})
    index = scan(demo_folder, decode=project.image_input)
    assert len(index.decoded) == len(index.items) == 36
    for item in index.items[:5]:
        np.testing.assert_array_equal(index.decoded[item.path], project.image_input.load(item.path))

    # A fresh folder (so no remembered checks): count every decode a run's preparation makes.
    fresh = demo_folder.parent / "fresh"
    shutil.copytree(demo_folder, fresh)
    fresh_project = project.copy_with(**{"data.folder": str(fresh)})
    calls = []
    real = images_module.load_image
    monkeypatch.setattr(images_module, "load_image", lambda *a, **k: calls.append(a) or real(*a, **k))
    data = prepare_run(fresh_project, RecordingObserver(), StopToken(), lambda classes: None)
    assert calls == []  # everything came from the scan's single decode
    split = fresh_project.split(scan(fresh))
    assert len(data.x_train) == len(split.train) and len(data.x_val) == len(split.val)
    np.testing.assert_array_equal(data.x_train[3], real(split.train[3].path, 40))
    np.testing.assert_array_equal(data.x_val[-1], real(split.val[-1].path, 40))
