"""The folder walk of a scan: which files of a dataset folder may be images of which class, and what is ignored.

Nothing a person would not call an image becomes a candidate: hidden files and folders, macOS ``._x.jpg``
resource files and ``__MACOSX`` folders, system files (``Thumbs.db``...) and files of other types are
counted by kind instead, so the report can say what was left out and why. The layout is found here too:
``root/<class>/**/<image>`` (split later), or ``root/train/<class>/…`` beside ``root/val/…`` (or
``validation/``) and an optional ``root/test/…`` (the split is given).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# Folder names (case-insensitive) that mark a given split, and the split each one means.
SPLIT_FOLDERS: dict[str, str] = {"train": "train", "val": "val", "validation": "val", "test": "test"}
SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test")

# Kinds of ignored entries (keys of ``DatasetIndex.ignored_by_reason``).
IGNORED_HIDDEN = "hidden files and folders"
IGNORED_APPLEDOUBLE = "macOS resource files (._*)"
IGNORED_MACOSX = "__MACOSX folders"
IGNORED_SYSTEM = "system files (.DS_Store, Thumbs.db, desktop.ini)"
IGNORED_NOT_IMAGE = "files that are not images (by extension)"
IGNORED_STRAY = "files outside class folders"
IGNORED_EMPTY_FOLDER = "folders without images"
IGNORED_OUTSIDE_SPLITS = "folders beside train/ and val/"
IGNORED_UNKNOWN_CLASS = "images of classes missing from train/"

_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


def ignore_kind(name: str, is_dir: bool) -> str | None:
    """Why a file or folder is ignored by its name alone, or None when it may hold data."""
    lowered = name.lower()
    if name == "__MACOSX":
        return IGNORED_MACOSX
    if name.startswith("._"):
        return IGNORED_APPLEDOUBLE
    if not is_dir and lowered in _SYSTEM_FILES:
        return IGNORED_SYSTEM
    if name.startswith("."):
        return IGNORED_HIDDEN
    return None


@dataclass
class ClassFolder:
    """One class folder of one split, while scanning."""

    name: str
    split: str | None
    candidates: list[Path] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.split, self.name


@dataclass
class DatasetLayout:
    """How a dataset folder is laid out: its class folders (with their candidate images) and, when the
    person split the data into train/ and val/ folders, the folder name of each split."""

    class_folders: list[ClassFolder]
    split_names: dict[str, str]  # split -> its folder's name as written ("validation" for val)
    stray_images: int  # image files lying directly in the root, outside any class folder

    @property
    def split_mode(self) -> str:
        return "given" if "train" in self.split_names and "val" in self.split_names else "auto"

    def folder_label(self, folder: ClassFolder) -> str:
        """How a class folder is named in messages: 'cat' in auto mode, 'train/cat' in given mode."""
        return f"{self.split_names[folder.split]}/{folder.name}" if folder.split else folder.name


class FolderWalker:
    """Walks folders, sorting entries into candidates and counted ignored kinds."""

    def __init__(self) -> None:
        self.ignored: Counter[str] = Counter()
        self.unreadable: list[str] = []

    def entries(self, folder: Path) -> tuple[list[Path], list[Path]]:
        """The non-ignored sub-folders and files of ``folder``, sorted; counts what it ignores."""
        folders: list[Path] = []
        files: list[Path] = []
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as error:
            self.unreadable.append(f"cannot read the folder '{folder}' ({error.strerror or error}); check its "
                                   "permissions")
            return folders, files
        for child in children:
            try:
                is_dir, is_file = child.is_dir(), child.is_file()
            except OSError:  # e.g. no permission to look at it: treat it like any unreadable folder
                is_dir, is_file = True, False
            kind = ignore_kind(child.name, is_dir)
            if kind is not None:
                self.ignored[kind] += 1
            elif is_dir:
                folders.append(child)
            elif is_file:
                files.append(child)
        return folders, files

    def images_under(self, folder: Path) -> list[Path]:
        """Every candidate image below ``folder``, nested folders included, in a stable order."""
        candidates: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(folder, onerror=self._walk_error):
            kept = []
            for name in sorted(dirnames):
                kind = ignore_kind(name, True)
                if kind is None:
                    kept.append(name)
                else:
                    self.ignored[kind] += 1
            dirnames[:] = kept  # prune hidden and __MACOSX folders from the walk
            for name in sorted(filenames):
                kind = ignore_kind(name, False)
                if kind is None and Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                    kind = IGNORED_NOT_IMAGE
                if kind is None:
                    candidates.append(Path(dirpath, name))
                else:
                    self.ignored[kind] += 1
        return candidates

    def _walk_error(self, error: OSError) -> None:
        self.unreadable.append(f"cannot read the folder '{error.filename}' ({error.strerror or error}); check "
                               "its permissions")

    def layout(self, root: Path) -> DatasetLayout:
        """The class folders of ``root`` with their candidate images, in auto or given mode."""
        top_folders, top_files = self.entries(root)
        stray_images = sum(1 for f in top_files if f.suffix.lower() in IMAGE_EXTENSIONS)
        self.ignored[IGNORED_STRAY] += len(top_files)
        # A train/ plus val/ (or validation/) pair means the person already split the data.
        split_dirs: dict[str, Path] = {}
        for sub in top_folders:
            split = SPLIT_FOLDERS.get(sub.name.lower())
            if split is not None and split not in split_dirs:
                split_dirs[split] = sub
        if "train" in split_dirs and "val" in split_dirs:
            class_folders = self._given_class_folders(top_folders, split_dirs)
        else:
            class_folders = [ClassFolder(d.name, None) for d in top_folders]
        for class_folder in class_folders:
            parent = split_dirs[class_folder.split] if class_folder.split else root
            class_folder.candidates = self.images_under(parent / class_folder.name)
        return DatasetLayout(class_folders, {split: path.name for split, path in split_dirs.items()}, stray_images)

    def _given_class_folders(self, top_folders: list[Path], split_dirs: dict[str, Path]) -> list[ClassFolder]:
        """The class folders inside train/, val/ and test/; other top-level folders are counted as ignored."""
        for sub in top_folders:
            if sub not in split_dirs.values():
                self.ignored[IGNORED_OUTSIDE_SPLITS] += 1
        class_folders: list[ClassFolder] = []
        for split in SPLIT_ORDER:
            if split not in split_dirs:
                continue
            class_dirs, loose_files = self.entries(split_dirs[split])
            self.ignored[IGNORED_STRAY] += len(loose_files)
            class_folders += [ClassFolder(d.name, split) for d in class_dirs]
        return class_folders
