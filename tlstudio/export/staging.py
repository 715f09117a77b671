"""The staging folder beside the export folder, the atomic move of its files into place, and the
messages for a destination that cannot be written (disk full, read-only)."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from tlstudio.export.converters import Source, write_savedmodel
from tlstudio.export.results import ExportError, artefact_name

_DESTINATION_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
_DESTINATION_TEXT = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                     "Permission denied")


def _make_staging_dir(parent: Path, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".{name}.export-", dir=parent))


class Staging:
    """A temporary folder beside ``out_dir`` (same file system, so moves are renames), always removed."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._saved_model: Path | None = None
        if out_dir.exists() and not out_dir.is_dir():
            raise ExportError(f"{out_dir} is a file, not a folder; choose a folder for the export.")
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            self.path = _make_staging_dir(out_dir.parent, out_dir.name)
        except OSError as error:
            raise ExportError(destination_message(out_dir, error)) from None

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def saved_model(self, source: Source) -> Path:
        """The serving SavedModel TFLite converts from: the exported one, or a private copy."""
        exported = self.path / artefact_name("savedmodel")
        if exported.is_dir():
            return exported
        if self._saved_model is None:
            self._saved_model = self.path / ".tflite-source"
            write_savedmodel(source.model, self._saved_model, source.function)
        return self._saved_model

    def commit(self, names: list[str]) -> None:
        """Move each staged file or folder into ``out_dir`` with one rename (old ones replaced)."""
        try:
            self.out_dir.mkdir(exist_ok=True)
            for name in names:
                source, target = self.path / name, self.out_dir / name
                if source.is_dir():
                    old = self.path / f".old-{name}"
                    if target.exists():
                        os.replace(target, old)
                    os.replace(source, target)
                else:
                    os.replace(source, target)
        except OSError as error:
            raise ExportError(destination_message(self.out_dir, error)) from None


def remove(path: Path) -> None:
    """Delete a staged file or folder (a format that failed)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def is_destination_error(error: BaseException) -> bool:
    """Whether ``error`` (from any converter) means the destination cannot be written."""
    if isinstance(error, OSError) and error.errno in _DESTINATION_ERRNOS:
        return True
    return any(text in str(error) for text in _DESTINATION_TEXT)


def destination_message(out_dir: Path, error: BaseException) -> str:
    """One sentence naming ``out_dir`` and what to do: disk full, read-only, or the system's reason."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "quota" in text:
        return f"cannot write the export to {out_dir}: the disk is full; free some space or choose another folder."
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "Read-only" in text or "Permission denied" in text:
        return (f"cannot write the export to {out_dir}: the folder is read-only; choose a folder you can "
                "write to.")
    reason = getattr(error, "strerror", None) or text
    return f"cannot write the export to {out_dir} ({reason}); choose another folder."
