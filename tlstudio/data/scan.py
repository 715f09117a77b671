"""Scan a dataset folder into a ``DatasetIndex``: classes, usable images, and why others were left out.

Unlike ``image_dataset_from_directory`` (docs/stack-notes.md #6), every candidate file is decoded once here,
so a bad file is named before training instead of failing mid-``fit()``, and nothing a person
would not call an image (macOS ``._x.jpg`` files, ``Thumbs.db``, empty folders) becomes data.

A file already checked by an earlier scan (same path, size and modification time) is not decoded
again: the checks are remembered in the user cache folder (`scan-checks/`), so a second scan of
the same folder, the Data page's rescans and each run's own scan only read the folder listing.

Layouts:

- ``root/<class>/**/<image>`` — the split is made later (``split_mode == "auto"``);
- ``root/train/<class>/…``, ``root/val/<class>/…`` (or ``validation/``), optional ``root/test/…``
  — the given split is used (``split_mode == "given"``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tlstudio.base.cache_folder import cache_dir
from tlstudio.base.files import write_text_atomic
from tlstudio.data.images import (
    DEFAULT_MAX_MEGAPIXELS,
    DataError,
    ImageInput,
    decode_bytes,
    decode_bytes_to_input,
    default_workers,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataError",
    "DatasetIndex",
    "ImageItem",
    "SkippedFile",
    "scan",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# Folder names (case-insensitive) that mark a given split, and the split each one means.
SPLIT_FOLDERS: dict[str, str] = {"train": "train", "val": "val", "validation": "val", "test": "test"}
SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test")
FEW_IMAGES_WARNING = 10  # a class with fewer usable images than this gets a warning
IMBALANCE_WARNING = 3.0  # largest / smallest class above this gets a warning
# Scanning only needs to prove a file decodes: JPEGs are decoded at 1/8 scale, which still
# reads every byte of entropy-coded data and so still catches truncated or corrupt files.
SCAN_DRAFT_SIZE = 32
# A scan for training keeps its decoded images (so they are not decoded twice) up to this many bytes
# (1,700 images at 224 px); a larger set is checked at reduced scale and decoded once more, straight
# into the image cache's file, so memory stays flat as the data grows.
SCAN_DECODE_BUDGET = 256 * 1024 * 1024
_EXAMPLES = 3  # how many example paths a warning lists
CHECKS_FORMAT = 1  # of the remembered checks: a change to what a check means must change this


class _RememberedChecks:
    """The checks of one folder's files from earlier scans: {path: [size, mtime_ns, reason, digest]}.
    A store that cannot be read or written only costs the decoding it would have saved."""

    def __init__(self, root: Path, max_megapixels: float) -> None:
        key = hashlib.sha256(json.dumps([CHECKS_FORMAT, str(root), max_megapixels, SCAN_DRAFT_SIZE]).encode())
        self.path = cache_dir() / "scan-checks" / f"{key.hexdigest()[:32]}.json"
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def get(self, path: Path) -> tuple[str | None, str | None] | None:
        entry = self.entries.get(str(path))
        stamp = self._stamp(path)
        if entry is None or stamp is None or tuple(entry[:2]) != stamp:
            return None
        return entry[2], entry[3]

    def put(self, path: Path, result: tuple[str | None, str | None]) -> None:
        stamp = self._stamp(path)
        if stamp is not None:
            self.entries[str(path)] = [*stamp, *result]
            self.changed = True

    def save(self, kept: set[str]) -> None:
        stale = set(self.entries) - kept
        for name in stale:  # files gone from the folder
            del self.entries[name]
        if not (self.changed or stale):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.entries))
        except OSError:
            pass

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


@dataclass(frozen=True)
class ImageItem:
    """One usable image: its file, its class (index into ``DatasetIndex.classes``), its given split."""

    path: Path
    label: int
    split: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    """An image file that cannot be used, with the short reason shown to the user."""

    path: Path
    reason: str


@dataclass
class DatasetIndex:
    """What a scan found. ``ok`` is False while ``errors`` lists something that blocks training."""

    root: Path
    classes: list[str] = field(default_factory=list)
    items: list[ImageItem] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    ignored: int = 0
    ignored_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    split_mode: str = "auto"
    # With `scan(decode=...)`: the files this scan decoded, as model inputs (not those whose check was
    # remembered from an earlier scan), so training need not decode them a second time.
    decoded: dict[Path, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        """Usable images per class, all splits together, in class order."""
        counts = dict.fromkeys(self.classes, 0)
        for item in self.items:
            counts[self.classes[item.label]] += 1
        return counts

    def counts_by_split(self) -> dict[str, dict[str, int]]:
        """Usable images per split and class (a single ``"all"`` split in auto mode)."""
        result: dict[str, dict[str, int]] = {}
        for item in self.items:
            per_class = result.setdefault(item.split or "all", dict.fromkeys(self.classes, 0))
            per_class[self.classes[item.label]] += 1
        return {split: result[split] for split in (*SPLIT_ORDER, "all") if split in result}

    def to_report_dict(self) -> dict:
        """The scan result as plain JSON-ready data (for ``tlstudio scan --json`` and the GUI)."""
        return {
            "classes": list(self.classes),
            "counts": self.counts,
            "images": len(self.items),
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "ignored": self.ignored,
            "ignored_by_reason": dict(self.ignored_by_reason),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "split_mode": self.split_mode,
        }

    def format_report(self) -> str:
        """A readable multi-line report: classes with counts and shares, skipped, ignored, problems."""
        lines = [f"Dataset: {self.root}"]
        if self.split_mode == "given":
            lines.append("Split: given by the train/ and val/ folders")
        else:
            lines.append("Split: automatic (a share of each class is held out for validation)")
        counts = self.counts
        total = len(self.items)
        lines.append(f"{len(self.classes)} classes, {total} usable images")
        if self.classes:
            width = max(len(name) for name in self.classes)
            by_split = self.counts_by_split() if self.split_mode == "given" else {}
            for name, n in counts.items():
                share = 100.0 * n / total if total else 0.0
                line = f"  {name:<{width}}  {n:>6}  {share:5.1f}%"
                if by_split:
                    line += "  (" + ", ".join(f"{split} {per[name]}" for split, per in by_split.items()) + ")"
                lines.append(line)
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} unusable image files:")
            lines.extend(f"  {_relative(s.path, self.root)}: {s.reason}" for s in self.skipped)
        if self.ignored:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.ignored_by_reason.items()))
            lines.append(f"Ignored {self.ignored} entries ({kinds})")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {warning}" for warning in self.warnings)
        if self.errors:
            lines.append("Errors (fix these before training):")
            lines.extend(f"  - {error}" for error in self.errors)
        else:
            lines.append("Ready to train.")
        return "\n".join(lines)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _class_sort_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def _ignore_kind(name: str, is_dir: bool) -> str | None:
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
class _ClassFolder:
    """One class folder of one split, while scanning."""

    name: str
    split: str | None
    candidates: list[Path] = field(default_factory=list)


class _Collector:
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
            kind = _ignore_kind(child.name, is_dir)
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
                kind = _ignore_kind(name, True)
                if kind is None:
                    kept.append(name)
                else:
                    self.ignored[kind] += 1
            dirnames[:] = kept  # prune hidden and __MACOSX folders from the walk
            for name in sorted(filenames):
                kind = _ignore_kind(name, False)
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


def _check_file(path: Path, max_megapixels: float, decode: ImageInput | None = None
                ) -> tuple[str | None, str | None, np.ndarray | None]:
    """Reads and decodes one candidate; returns (reason it is unusable or None, content hash, the decoded
    model input when `decode` asks for it). Either decode reads every byte of the image data, so either
    proves the file usable; the reduced-scale one is only cheaper."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return f"cannot read the file: {error.strerror or error}", None, None
    if not data:
        return "empty file (0 bytes)", None, None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if decode is not None:
        reason, array = decode_bytes_to_input(data, decode.size, decode.resize, max_megapixels=max_megapixels)
        return reason, digest, array
    return decode_bytes(data, max_megapixels=max_megapixels, draft_size=SCAN_DRAFT_SIZE), digest, None


def _folder_label(folder: _ClassFolder, split_dirs: dict[str, str]) -> str:
    """How a class folder is named in messages: 'cat' in auto mode, 'train/cat' in given mode."""
    return f"{split_dirs[folder.split]}/{folder.name}" if folder.split else folder.name


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
    if not root.exists():
        index.errors.append(f"The folder '{root}' does not exist; choose a folder that holds one "
                            "sub-folder of images per class.")
        return index
    if not root.is_dir():
        index.errors.append(f"'{root}' is a file, not a folder; choose a folder that holds one sub-folder "
                            "of images per class.")
        return index

    collector = _Collector()
    top_folders, top_files = collector.entries(root)
    stray_images = sum(1 for f in top_files if f.suffix.lower() in IMAGE_EXTENSIONS)
    collector.ignored[IGNORED_STRAY] += len(top_files)

    # A train/ plus val/ (or validation/) pair means the person already split the data.
    split_dirs: dict[str, Path] = {}
    for sub in top_folders:
        split = SPLIT_FOLDERS.get(sub.name.lower())
        if split is not None and split not in split_dirs:
            split_dirs[split] = sub
    given = "train" in split_dirs and "val" in split_dirs
    class_folders: list[_ClassFolder] = []
    if given:
        index.split_mode = "given"
        for sub in top_folders:
            if sub not in split_dirs.values():
                collector.ignored[IGNORED_OUTSIDE_SPLITS] += 1
        for split in SPLIT_ORDER:
            if split not in split_dirs:
                continue
            class_dirs, loose_files = collector.entries(split_dirs[split])
            collector.ignored[IGNORED_STRAY] += len(loose_files)
            class_folders += [_ClassFolder(d.name, split) for d in class_dirs]
    else:
        class_folders = [_ClassFolder(d.name, None) for d in top_folders]
    split_names = {split: path.name for split, path in split_dirs.items()}

    base = {(f.split, f.name): (split_dirs[f.split] if f.split else root) / f.name for f in class_folders}
    for class_folder in class_folders:
        class_folder.candidates = collector.images_under(base[(class_folder.split, class_folder.name)])

    # Decode every candidate not checked before, in parallel; PIL releases the GIL while decoding.
    jobs = [(cf, path) for cf in class_folders for path in cf.candidates]
    remembered = _RememberedChecks(root, max_megapixels)
    results: dict[Path, tuple[str | None, str | None]] = {}
    for _, path in jobs:
        known = remembered.get(path)
        if known is not None:
            results[path] = known
    to_check = [path for _, path in jobs if path not in results]
    if decode is not None and len(to_check) * decode.size * decode.size * 3 > SCAN_DECODE_BUDGET:
        decode = None  # too many to hold: training decodes them into its memory-mapped cache instead
    total = len(jobs)
    if progress is not None:
        progress(len(results), total)
    if to_check:
        with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="tl-scan") as pool:
            futures = {pool.submit(_check_file, path, max_megapixels, decode): path for path in to_check}
            for done, future in enumerate(as_completed(futures), start=len(results) + 1):
                path = futures[future]
                reason, digest, array = future.result()
                results[path] = (reason, digest)
                if array is not None:
                    index.decoded[path] = array
                if results[path][0] is None or not results[path][0].startswith("cannot read"):
                    remembered.put(path, results[path])
                if progress is not None:
                    progress(done, total)
    remembered.save({str(path) for _, path in jobs})

    # Classes: folders with at least one usable image (in given mode, usable in train/).
    usable: dict[tuple[str | None, str], list[tuple[Path, str]]] = defaultdict(list)
    for cf, path in jobs:
        reason, digest = results[path]
        if reason is None:
            usable[(cf.split, cf.name)].append((path, digest or ""))
        else:
            index.skipped.append(SkippedFile(path, reason))
    class_split = "train" if given else None
    index.classes = sorted({cf.name for cf in class_folders
                            if cf.split == class_split and usable[(cf.split, cf.name)]}, key=_class_sort_key)
    labels = {name: i for i, name in enumerate(index.classes)}

    digests: dict[str, list[tuple[int, str | None, Path]]] = defaultdict(list)
    unknown_classes: list[str] = []
    for cf in class_folders:
        found = usable[(cf.split, cf.name)]
        if not cf.candidates:
            collector.ignored[IGNORED_EMPTY_FOLDER] += 1
            continue
        if cf.name not in labels:
            if found:  # only in given mode: a val/ or test/ class that train/ does not have
                unknown_classes.append(_folder_label(cf, split_names))
                collector.ignored[IGNORED_UNKNOWN_CLASS] += len(found)
            continue
        for path, digest in found:
            index.items.append(ImageItem(path, labels[cf.name], cf.split))
            digests[digest].append((labels[cf.name], cf.split, path))
    split_rank = {split: i for i, split in enumerate(SPLIT_ORDER)}
    index.items.sort(key=lambda it: (split_rank.get(it.split or "", -1), it.label, str(it.path)))

    index.ignored_by_reason = {kind: n for kind, n in sorted(collector.ignored.items()) if n}
    index.ignored = sum(index.ignored_by_reason.values())
    _add_errors(index, class_folders, usable, split_names, stray_images, collector.unreadable)
    _add_warnings(index, digests, unknown_classes, split_names)
    return index


def _add_errors(index: DatasetIndex, class_folders: list[_ClassFolder],
                usable: dict[tuple[str | None, str], list[tuple[Path, str]]], split_names: dict[str, str],
                stray_images: int, unreadable: list[str]) -> None:
    """Fills ``index.errors``: each one sentence naming the folder or class and what to do."""
    errors = index.errors
    errors.extend(message[0].upper() + message[1:] + "." for message in unreadable)
    for cf in class_folders:
        if cf.candidates and not usable[(cf.split, cf.name)] and (cf.split in (None, "train")):
            n = len(cf.candidates)
            errors.append(f"Class '{_folder_label(cf, split_names)}' has no usable images ({n} file"
                          f"{'s' if n != 1 else ''} skipped); fix or remove the folder.")
    if not index.items:
        if any(cf.candidates for cf in class_folders):
            errors.append(f"None of the images in '{index.root}' can be used; fix or replace the skipped "
                          "files listed in the report.")
        elif stray_images:
            errors.append(f"No images found in class sub-folders of '{index.root}' ({stray_images} lie directly "
                          "in it); move them into one sub-folder per class, e.g. cats/ and dogs/.")
        else:
            errors.append(f"No images found in '{index.root}'; put the images in one sub-folder per class, "
                          "e.g. cats/ and dogs/.")
    elif len(index.classes) < 2:
        where = f"'{index.root / split_names['train']}'" if index.split_mode == "given" else f"'{index.root}'"
        errors.append(f"Only one class ('{index.classes[0]}') has usable images in {where}; add a second "
                      "class sub-folder, since a classifier needs at least two classes.")
    if index.split_mode == "given":
        with_val = {item.label for item in index.items if item.split == "val"}
        val_name = split_names["val"]
        for label, name in enumerate(index.classes):
            if label not in with_val:
                errors.append(f"Class '{name}' has no usable images in {val_name}/; add some to "
                              f"{val_name}/{name}/, or remove the train/ and {val_name}/ folders to split "
                              "automatically.")


def _add_warnings(index: DatasetIndex, digests: dict[str, list[tuple[int, str | None, Path]]],
                  unknown_classes: list[str], split_names: dict[str, str]) -> None:
    """Fills ``index.warnings``: problems that do not block training but hurt it."""
    warnings = index.warnings
    root = index.root
    counts = index.counts
    few = [f"'{name}' ({n})" for name, n in counts.items() if n < FEW_IMAGES_WARNING]
    if few:
        warnings.append(f"Few images in {', '.join(few)}; at least {FEW_IMAGES_WARNING} per class are "
                        "recommended, more give better results.")
    if len(counts) >= 2:
        largest = max(counts, key=lambda name: counts[name])
        smallest = min(counts, key=lambda name: counts[name])
        if counts[smallest] and counts[largest] / counts[smallest] > IMBALANCE_WARNING:
            warnings.append(
                f"The classes are imbalanced: '{largest}' has {counts[largest]} images and '{smallest}' only "
                f"{counts[smallest]} ({counts[largest] / counts[smallest]:.1f}×); add images to the smaller "
                "classes or expect the model to favour the larger ones.")
    across = [copies for copies in digests.values() if len({label for label, _, _ in copies}) > 1]
    if across:
        examples = "; ".join(" = ".join(_relative(p, root) for _, _, p in copies) for copies in across[:_EXAMPLES])
        more = f" and {len(across) - _EXAMPLES} more" if len(across) > _EXAMPLES else ""
        warnings.append(f"{len(across)} image(s) appear in more than one class ({examples}{more}); an image "
                        "can only have one label, so delete the copies from the wrong class.")
    if index.split_mode == "given":
        leaked = [copies for copies in digests.values()
                  if "train" in {s for _, s, _ in copies} and {s for _, s, _ in copies} - {"train"}]
        if leaked:
            examples = "; ".join(" = ".join(_relative(p, root) for _, _, p in copies)
                                 for copies in leaked[:_EXAMPLES])
            warnings.append(f"{len(leaked)} image(s) in {split_names['val']}/ or test/ are copies of images in "
                            f"train/ ({examples}); remove them, or the validation accuracy will look better "
                            "than it is.")
        if unknown_classes:
            warnings.append(f"Folder(s) {', '.join(repr(name) for name in unknown_classes)} have no matching "
                            "class in train/; their images are ignored.")
    else:
        split_like = sorted(name for name in index.classes if name.lower() in SPLIT_FOLDERS)
        if split_like:
            warnings.append(f"Classes {', '.join(repr(name) for name in split_like)} look like split folders; to "
                            "use a given split, put a val/ folder beside train/ (each with class sub-folders).")
