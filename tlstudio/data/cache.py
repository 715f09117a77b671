"""Decoded images kept on disk between runs, so the second run of a project decodes nothing.

The key is a hash of the file list (paths, sizes, modification times), the image size, the
resize policy and the pixel limit: change any file or setting and the entry no longer matches.
Entries are uint8 .npy files in the user cache folder (platformdirs), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tlstudio.data.images import ImageInput
from tlstudio.files import cache_dir, mark_cache_used, trim_cache

CACHE_FORMAT = 1


def image_cache_key(paths: Sequence[Path], size: int, resize: str, max_megapixels: float) -> str:
    files = []
    for path in paths:
        stat = Path(path).stat()
        files.append((str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns))
    blob = json.dumps([CACHE_FORMAT, size, resize, max_megapixels, files]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def images_key(paths: Sequence[Path], image_input: ImageInput) -> str | None:
    """The image cache's key for `paths` under `image_input` (None when a file cannot be looked at): it names
    the decoded content, in order, without decoding anything."""
    try:
        return image_cache_key(paths, image_input.size, image_input.resize, image_input.max_megapixels)
    except OSError:
        return None


def load_images_cached(paths: Sequence[Path], image_input: ImageInput, *,
                       progress: Callable[[int, int], None] | None = None,
                       use_cache: bool = True, decoded: Mapping[Path, np.ndarray] | None = None
                       ) -> tuple[np.ndarray, bool]:
    """`image_input.load_many`, through the on-disk cache. Returns (images, whether the cache had them).

    `decoded` holds files already decoded with this image input (by the scan); only the others are
    decoded here. A cache that cannot be read or written is only a missed speed-up, never an error.
    """
    size = image_input.size
    if not use_cache:
        return _decode(paths, image_input, progress, decoded), False
    try:
        key = image_cache_key(paths, size, image_input.resize, image_input.max_megapixels)
    except OSError:  # a file vanished since the scan: let load_many name it
        return _decode(paths, image_input, progress, decoded), False
    entry = cache_dir() / "images" / f"{key}.npy"
    if entry.is_file():
        try:
            # Mapped, not read: pages come from disk only when used, so a run that trains on cached
            # backbone features never reads its images at all.
            images = np.load(entry, mmap_mode="r", allow_pickle=False)
            if images.dtype == np.uint8 and images.shape == (len(paths), size, size, 3):
                mark_cache_used(entry)
                if progress:
                    progress(len(paths), len(paths))
                return images, True
        except (OSError, ValueError):
            pass
    # Decoded straight into the new entry, a memory-mapped file: a large set never sits in memory whole.
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npy", dir=entry.parent)
        os.close(fd)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
    except (OSError, ValueError):  # no room for the entry: decode in memory, as without the cache
        _remove(tmp)
        return _decode(paths, image_input, progress, decoded), False
    try:
        _decode(paths, image_input, progress, decoded, out=out)
        out.flush()
        del out
        os.replace(tmp, entry)
    except BaseException:
        _remove(tmp)
        raise
    trim_cache(keep=entry)
    return np.load(entry, mmap_mode="r", allow_pickle=False), False


def _remove(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _decode(paths: Sequence[Path], image_input: ImageInput, progress: Callable[[int, int], None] | None,
            decoded: Mapping[Path, np.ndarray] | None, out: np.ndarray | None = None) -> np.ndarray:
    """The images of `paths` in order (in `out` when given): those in `decoded` as they are, the rest
    decoded now."""
    decoded = decoded or {}
    if not decoded:
        return image_input.load_many(paths, progress, out=out)
    size = image_input.size
    images = np.empty((len(paths), size, size, 3), np.uint8) if out is None else out
    missing = []
    for i, path in enumerate(paths):
        array = decoded.get(path)
        if array is None:
            missing.append(i)
        else:
            images[i] = array
    if missing:
        fresh = image_input.load_many([paths[i] for i in missing], progress)
        images[missing] = fresh
    elif progress is not None:
        progress(len(paths), len(paths))
    return images
