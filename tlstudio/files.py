"""Files TL Studio writes: atomic writes and its cache folder. The bottom layer; imports nothing of tlstudio."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path

CACHE_DIR_VARIABLE = "TLSTUDIO_CACHE_DIR"


def cache_dir() -> Path:
    """`$TLSTUDIO_CACHE_DIR`, else the platform's user cache folder for tlstudio."""
    override = os.environ.get(CACHE_DIR_VARIABLE)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tlstudio", appauthor=False))


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path beside `path` to write; on success it is renamed over `path`.

    A crash, a full disk or an exception leaves the old file (or none) and no half-written one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; the user's files get their usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` so that a crash never leaves half a file."""
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def default_file_mode() -> int:
    """0666 less the process umask: the mode a plain open() would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def format_bytes(count: float) -> str:
    """A size for people, in SI units (kB = 1000 bytes), as file managers show them: '12.3 MB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def format_percent(value: float | None, missing: str = "–") -> str:
    """0.9731 -> '97.3%'; `missing` when there is no value (or it is not finite)."""
    return f"{value:.1%}" if value is not None and math.isfinite(value) else missing
