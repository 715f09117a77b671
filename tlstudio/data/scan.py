"""Scan a dataset folder into a ``DatasetIndex``: classes, usable images, and why others were left out.

Unlike ``image_dataset_from_directory`` (docs/stack-notes.md #6), every candidate file is decoded once,
so a bad file is named before training instead of failing mid-``fit()``, and nothing a person
would not call an image (macOS ``._x.jpg`` files, ``Thumbs.db``, empty folders) becomes data.

A scan walks the folder (``data.folder_walk``: the layout, the candidates, what is ignored), checks each
candidate (``data.file_checks``: decoded once, the verdicts remembered between scans), then indexes the
usable images (``data.dataset_index``) and judges the whole: errors that block training, warnings that
hurt it.

Layouts:

- ``root/<class>/**/<image>`` — the split is made later (``split_mode == "auto"``);
- ``root/train/<class>/…``, ``root/val/<class>/…`` (or ``validation/``), optional ``root/test/…``
  — the given split is used (``split_mode == "given"``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from tlstudio.data.dataset_index import DatasetIndex, ImageItem, SkippedFile, relative_path
from tlstudio.data.file_checks import Verdict, check_files
from tlstudio.data.folder_walk import (
    IGNORED_EMPTY_FOLDER,
    IGNORED_UNKNOWN_CLASS,
    IMAGE_EXTENSIONS,
    SPLIT_FOLDERS,
    SPLIT_ORDER,
    ClassFolder,
    DatasetLayout,
    FolderWalker,
)
from tlstudio.data.images import DEFAULT_MAX_MEGAPIXELS, DataError, ImageInput

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataError",
    "DatasetIndex",
    "ImageItem",
    "SkippedFile",
    "scan",
]

FEW_IMAGES_WARNING = 10  # a class with fewer usable images than this gets a warning
IMBALANCE_WARNING = 3.0  # largest / smallest class above this gets a warning
_EXAMPLES = 3  # how many example paths a warning lists

# Usable images of each class folder, by (split, class name): (path, content hash).
_Usable = dict[tuple[str | None, str], list[tuple[Path, str]]]
# Copies of one picture, by content hash: (label, split, path) of each.
_Copies = dict[str, list[tuple[int, str | None, Path]]]


def scan(folder: str | os.PathLike[str], *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
         workers: int | None = None, progress: Callable[[int, int], None] | None = None,
         decode: ImageInput | None = None) -> DatasetIndex:
    """Scans ``folder`` and checks every candidate image by decoding it (in parallel threads).

    Never raises for bad data: problems go to ``errors`` (blocking), ``warnings``, ``skipped`` and
    the ignored counts. ``progress(done, total)`` is called from the calling thread. With ``decode``
    (a run's image input), each file the scan decodes is decoded at that size and kept in
    ``index.decoded``: one pass over the files both checks them and prepares them for training.
    """
    root = Path(folder).expanduser().absolute()
    index = DatasetIndex(root=root)
    problem = _root_problem(root)
    if problem:
        index.errors.append(problem)
        return index

    walker = FolderWalker()
    layout = walker.layout(root)
    index.split_mode = layout.split_mode
    checked = check_files(root, [path for cf in layout.class_folders for path in cf.candidates],
                          max_megapixels=max_megapixels, workers=workers, progress=progress, decode=decode)
    index.decoded = checked.decoded
    usable = _usable_images(index, layout.class_folders, checked.verdicts)
    copies, unknown_classes = _index_items(index, layout, usable, walker)
    index.ignored_by_reason = {kind: n for kind, n in sorted(walker.ignored.items()) if n}
    index.ignored = sum(index.ignored_by_reason.values())
    _add_errors(index, layout, usable, walker.unreadable)
    _add_warnings(index, copies, unknown_classes, layout.split_names)
    return index


def _root_problem(root: Path) -> str | None:
    """Why ``root`` cannot be scanned at all, or None."""
    if not root.exists():
        return (f"The folder '{root}' does not exist; choose a folder that holds one sub-folder of images per "
                "class.")
    if not root.is_dir():
        return f"'{root}' is a file, not a folder; choose a folder that holds one sub-folder of images per class."
    return None


def _usable_images(index: DatasetIndex, class_folders: list[ClassFolder], verdicts: dict[Path, Verdict]
                   ) -> _Usable:
    """The usable images of each class folder; every unusable one goes to ``index.skipped`` with its reason."""
    usable: _Usable = defaultdict(list)
    for cf in class_folders:
        for path in cf.candidates:
            reason, digest = verdicts[path]
            if reason is None:
                usable[cf.key].append((path, digest or ""))
            else:
                index.skipped.append(SkippedFile(path, reason))
    return usable


def _class_sort_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def _index_items(index: DatasetIndex, layout: DatasetLayout, usable: _Usable, walker: FolderWalker
                 ) -> tuple[_Copies, list[str]]:
    """Fills ``index.classes`` (folders with a usable image; in given mode, usable in train/) and
    ``index.items``; returns the copies of each picture and the val/ or test/ folders that train/ lacks."""
    class_split = "train" if layout.split_mode == "given" else None
    index.classes = sorted({cf.name for cf in layout.class_folders if cf.split == class_split and usable[cf.key]},
                           key=_class_sort_key)
    labels = {name: i for i, name in enumerate(index.classes)}
    copies: _Copies = defaultdict(list)
    unknown_classes: list[str] = []
    for cf in layout.class_folders:
        found = usable[cf.key]
        if not cf.candidates:
            walker.ignored[IGNORED_EMPTY_FOLDER] += 1
            continue
        if cf.name not in labels:
            if found:  # only in given mode: a val/ or test/ class that train/ does not have
                unknown_classes.append(layout.folder_label(cf))
                walker.ignored[IGNORED_UNKNOWN_CLASS] += len(found)
            continue
        for path, digest in found:
            index.items.append(ImageItem(path, labels[cf.name], cf.split))
            copies[digest].append((labels[cf.name], cf.split, path))
    split_rank = {split: i for i, split in enumerate(SPLIT_ORDER)}
    index.items.sort(key=lambda it: (split_rank.get(it.split or "", -1), it.label, str(it.path)))
    return copies, unknown_classes


def _add_errors(index: DatasetIndex, layout: DatasetLayout, usable: _Usable, unreadable: list[str]) -> None:
    """Fills ``index.errors``: each one sentence naming the folder or class and what to do."""
    errors = index.errors
    errors.extend(message[0].upper() + message[1:] + "." for message in unreadable)
    for cf in layout.class_folders:
        if cf.candidates and not usable[cf.key] and (cf.split in (None, "train")):
            n = len(cf.candidates)
            errors.append(f"Class '{layout.folder_label(cf)}' has no usable images ({n} file"
                          f"{'s' if n != 1 else ''} skipped); fix or remove the folder.")
    if not index.items:
        errors.append(_no_images_error(index.root, layout))
    elif len(index.classes) < 2:
        where = f"'{index.root / layout.split_names['train']}'" if index.split_mode == "given" else f"'{index.root}'"
        errors.append(f"Only one class ('{index.classes[0]}') has usable images in {where}; add a second "
                      "class sub-folder, since a classifier needs at least two classes.")
    if index.split_mode == "given":
        with_val = {item.label for item in index.items if item.split == "val"}
        val_name = layout.split_names["val"]
        for label, name in enumerate(index.classes):
            if label not in with_val:
                errors.append(f"Class '{name}' has no usable images in {val_name}/; add some to "
                              f"{val_name}/{name}/, or remove the train/ and {val_name}/ folders to split "
                              "automatically.")


def _no_images_error(root: Path, layout: DatasetLayout) -> str:
    """The error of a folder without a single usable image, naming what it holds instead."""
    if any(cf.candidates for cf in layout.class_folders):
        return f"None of the images in '{root}' can be used; fix or replace the skipped files listed in the report."
    if layout.stray_images:
        return (f"No images found in class sub-folders of '{root}' ({layout.stray_images} lie directly in it); "
                "move them into one sub-folder per class, e.g. cats/ and dogs/.")
    return f"No images found in '{root}'; put the images in one sub-folder per class, e.g. cats/ and dogs/."


def _add_warnings(index: DatasetIndex, copies: _Copies, unknown_classes: list[str],
                  split_names: dict[str, str]) -> None:
    """Fills ``index.warnings``: problems that do not block training but hurt it."""
    warnings = index.warnings
    warnings.extend(_class_size_warnings(index.counts))
    across = [found for found in copies.values() if len({label for label, _, _ in found}) > 1]
    if across:
        more = f" and {len(across) - _EXAMPLES} more" if len(across) > _EXAMPLES else ""
        warnings.append(f"{len(across)} image(s) appear in more than one class ({_examples(across, index.root)}"
                        f"{more}); an image can only have one label, so delete the copies from the wrong class.")
    if index.split_mode == "given":
        leaked = [found for found in copies.values()
                  if "train" in {s for _, s, _ in found} and {s for _, s, _ in found} - {"train"}]
        if leaked:
            warnings.append(f"{len(leaked)} image(s) in {split_names['val']}/ or test/ are copies of images in "
                            f"train/ ({_examples(leaked, index.root)}); remove them, or the validation accuracy "
                            "will look better than it is.")
        if unknown_classes:
            warnings.append(f"Folder(s) {', '.join(repr(name) for name in unknown_classes)} have no matching "
                            "class in train/; their images are ignored.")
    else:
        split_like = sorted(name for name in index.classes if name.lower() in SPLIT_FOLDERS)
        if split_like:
            warnings.append(f"Classes {', '.join(repr(name) for name in split_like)} look like split folders; to "
                            "use a given split, put a val/ folder beside train/ (each with class sub-folders).")


def _class_size_warnings(counts: dict[str, int]) -> list[str]:
    """Warnings about classes with few images, and about one class far larger than another."""
    found = []
    few = [f"'{name}' ({n})" for name, n in counts.items() if n < FEW_IMAGES_WARNING]
    if few:
        found.append(f"Few images in {', '.join(few)}; at least {FEW_IMAGES_WARNING} per class are "
                     "recommended, more give better results.")
    if len(counts) >= 2:
        largest = max(counts, key=lambda name: counts[name])
        smallest = min(counts, key=lambda name: counts[name])
        if counts[smallest] and counts[largest] / counts[smallest] > IMBALANCE_WARNING:
            found.append(
                f"The classes are imbalanced: '{largest}' has {counts[largest]} images and '{smallest}' only "
                f"{counts[smallest]} ({counts[largest] / counts[smallest]:.1f}×); add images to the smaller "
                "classes or expect the model to favour the larger ones.")
    return found


def _examples(copies: list[list[tuple[int, str | None, Path]]], root: Path) -> str:
    """The first few sets of copies, each as 'a.jpg = b/a.jpg'."""
    return "; ".join(" = ".join(relative_path(p, root) for _, _, p in found) for found in copies[:_EXAMPLES])
