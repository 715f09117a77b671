"""The user cache folder: where it is, what each kind of entry holds, and its size limit (least recently used
dropped first). Everything in it can be made again. Imports nothing of tlstudio."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CACHE_DIR_VARIABLE = "TLSTUDIO_CACHE_DIR"


def cache_dir() -> Path:
    """`$TLSTUDIO_CACHE_DIR`, else the platform's user cache folder for tlstudio."""
    override = os.environ.get(CACHE_DIR_VARIABLE)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tlstudio", appauthor=False))


# The kinds of cache entry, each a sub-folder of the cache (cache_folder): its one name.
IMAGES = "images"
FEATURES = "features"
BACKBONES = "backbones"
SCAN_CHECKS = "scan-checks"
IMAGE_FINGERPRINTS = "image-fingerprints"
WEIGHTS = "weights"
# What each kind holds, as the app names it. Everything there can be made again; WEIGHTS (converted offline
# backbones) is left out of the usage, the limit and Clear caches, as it is small and slow to remake.
CACHE_KINDS: dict[str, str] = {
    IMAGES: "decoded images",
    FEATURES: "backbone features",
    BACKBONES: "backbones converted for ONNX Runtime",
    SCAN_CHECKS: "remembered file checks",
    IMAGE_FINGERPRINTS: "image fingerprints",
}
EVICTABLE_KINDS = (IMAGES, FEATURES, BACKBONES)  # large entries, dropped least recently used first
CACHE_LIMIT_VARIABLE = "TLSTUDIO_CACHE_LIMIT_GB"
DEFAULT_CACHE_LIMIT_GB = 10.0


def cache_folder(kind: str) -> Path:
    """The folder of one kind of cache entry (a CACHE_KINDS key, or WEIGHTS); KeyError for another name."""
    if kind not in CACHE_KINDS and kind != WEIGHTS:
        raise KeyError(f"unknown cache kind {kind!r}")
    return cache_dir() / kind


def cache_limit_bytes() -> int:
    """The most the evictable caches may hold together: `$TLSTUDIO_CACHE_LIMIT_GB` GB, else 10 GB."""
    try:
        gigabytes = float(os.environ.get(CACHE_LIMIT_VARIABLE, DEFAULT_CACHE_LIMIT_GB))
    except ValueError:
        gigabytes = DEFAULT_CACHE_LIMIT_GB
    return int(max(gigabytes, 0.0) * 1e9)


def _entries(kinds) -> list[tuple[float, int, Path]]:
    """(last use, bytes, path) of every file of the given kinds; hidden temporaries left out."""
    found = []
    for kind in kinds:
        folder = cache_folder(kind)
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for path in children:
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.is_file():
                found.append((stat.st_mtime, stat.st_size, path))
    return found


def cache_usage() -> dict[str, tuple[int, int]]:
    """{kind: (bytes, files)} of each cache kind that holds something."""
    usage: dict[str, tuple[int, int]] = {}
    for kind in CACHE_KINDS:
        entries = _entries([kind])
        if entries:
            usage[kind] = (sum(size for _, size, _ in entries), len(entries))
    return usage


def mark_cache_used(path: Path) -> None:
    """Record that a cache entry was just used (its modification time is the LRU order)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def trim_cache(keep: Path | None = None, limit: int | None = None) -> int:
    """Delete the least recently used large entries until they fit `limit` (default `cache_limit_bytes()`);
    `keep` (the entry just written) is never deleted. Returns the bytes freed. An entry another process
    still has open is skipped where the system refuses (Windows); nothing here raises."""
    limit = cache_limit_bytes() if limit is None else limit
    entries = sorted(_entries(EVICTABLE_KINDS))
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, path in entries:
        if total - freed <= limit:
            break
        if path != keep:
            freed += _delete(path, size)
    return freed


def clear_cache() -> int:
    """Delete every cache kind's files (the folder itself stays). Returns the bytes freed."""
    return sum(_delete(path, size) for _, size, path in _entries(CACHE_KINDS))


def _delete(path: Path, size: int) -> int:
    """`size` when `path` was deleted, 0 when the system refused (another process has it open, say)."""
    try:
        path.unlink()
    except OSError:
        return 0
    return size
