"""Atomic writes: a crash, a full disk or an exception never leaves half a file. Imports nothing of tlstudio."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


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


def copy_file_atomic(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy `source` to a temporary file beside `target`, then rename: never a half-written copy."""
    with atomic_target(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def default_file_mode() -> int:
    """0666 less the process umask: the mode a plain open() would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
