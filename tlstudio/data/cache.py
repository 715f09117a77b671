"""Decoded images kept on disk between runs, so the second run of a project decodes nothing.

The key is a hash of the file list (paths, sizes, modification times), the image size, the
resize policy and the pixel limit: change any file or setting and the entry no longer matches.
Entries are uint8 .npy files in the user cache folder (platformdirs), written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tlstudio.base.cache_folder import IMAGES, cache_folder, mark_cache_used, trim_cache
from tlstudio.data.images import ImageInput

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
    entry = cache_folder(IMAGES) / f"{key}.npy"
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
    # Decoded straight into the new entry's file, each image written at its place as it is done: a large
    # set never sits in memory whole, and then it is mapped, not read.
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npy", dir=entry.parent)
        out = _RowFile(fd, (len(paths), size, size, 3))
    except (OSError, ValueError):  # no room for the entry: decode in memory, as without the cache
        _remove(tmp)
        return _decode(paths, image_input, progress, decoded), False
    try:
        with out:
            _decode(paths, image_input, progress, decoded, out=out)
        os.replace(tmp, entry)
    except BaseException:
        _remove(tmp)
        raise
    trim_cache(keep=entry)
    return np.load(entry, mmap_mode="r", allow_pickle=False), False


class _RowFile:
    """A .npy file of uint8 images written row by row with positional writes (safe from many decoding
    threads): `out[i] = image`. Written through the page cache, so the rows are not the process's memory."""

    def __init__(self, fd: int, shape: tuple[int, ...]) -> None:
        self.fd, self.shape, self.dtype = fd, shape, np.dtype(np.uint8)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
        self.offset = len(header.getvalue())
        self.row_bytes = int(np.prod(shape[1:]))
        self.lock = threading.Lock()  # for systems without pwrite (Windows): seek and write under a lock
        self._write(header.getvalue(), 0)
        os.ftruncate(fd, self.offset + self.row_bytes * shape[0])

    def __setitem__(self, index, rows) -> None:
        indices = np.atleast_1d(np.arange(self.shape[0])[index])
        rows = np.asarray(rows, np.uint8).reshape(len(indices), *self.shape[1:])
        for i, row in zip(indices.tolist(), rows, strict=True):
            self._write(np.ascontiguousarray(row).tobytes(), self.offset + i * self.row_bytes)

    def _write(self, data: bytes, offset: int) -> None:
        if hasattr(os, "pwrite"):
            os.pwrite(self.fd, data, offset)
            return
        with self.lock:
            os.lseek(self.fd, offset, os.SEEK_SET)
            os.write(self.fd, data)

    def __enter__(self) -> _RowFile:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def release_pages(array: np.ndarray) -> None:
    """Let go of the pages of a memory-mapped array that were read (they stay in the system's file cache,
    not in this process's memory), so streaming a large image set keeps the process small. No-op for
    ordinary arrays and where the system has no madvise."""
    mapping = getattr(array, "_mmap", None)
    if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


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
