"""The file checks of a scan: every candidate image decoded once, in parallel, and the verdicts remembered.

Unlike ``image_dataset_from_directory`` (docs/stack-notes.md #6), every candidate file is decoded here, so a
bad file is named before training instead of failing mid-``fit()``. A file already checked by an earlier
scan (same path, size and modification time) is not decoded again: the checks are remembered in the user
cache folder (`scan-checks/`), so a second scan of the same folder, the Data page's rescans and each run's
own scan only read the folder listing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tlstudio.base.cache_folder import SCAN_CHECKS, cache_folder
from tlstudio.base.files import write_text_atomic
from tlstudio.data.images import ImageInput, decode_bytes, decode_bytes_to_input, default_workers

# Scanning only needs to prove a file decodes: JPEGs are decoded at 1/8 scale, which still
# reads every byte of entropy-coded data and so still catches truncated or corrupt files.
SCAN_DRAFT_SIZE = 32
# A scan for training keeps its decoded images (so they are not decoded twice) up to this many bytes
# (1,700 images at 224 px); a larger set is checked at reduced scale and decoded once more, straight
# into the image cache's file, so memory stays flat as the data grows.
SCAN_DECODE_BUDGET = 256 * 1024 * 1024
CHECKS_FORMAT = 1  # of the remembered checks: a change to what a check means must change this

Verdict = tuple[str | None, str | None]  # (why the file is unusable or None, its content hash)


class RememberedChecks:
    """The checks of one folder's files from earlier scans: {path: [size, mtime_ns, reason, digest]}.
    A store that cannot be read or written only costs the decoding it would have saved."""

    def __init__(self, root: Path, max_megapixels: float) -> None:
        key = hashlib.sha256(json.dumps([CHECKS_FORMAT, str(root), max_megapixels, SCAN_DRAFT_SIZE]).encode())
        self.path = cache_folder(SCAN_CHECKS) / f"{key.hexdigest()[:32]}.json"
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

    def get(self, path: Path) -> Verdict | None:
        entry = self.entries.get(str(path))
        stamp = self._stamp(path)
        if entry is None or stamp is None or tuple(entry[:2]) != stamp:
            return None
        return entry[2], entry[3]

    def put(self, path: Path, result: Verdict) -> None:
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


def check_file(path: Path, max_megapixels: float, decode: ImageInput | None = None
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


@dataclass
class CheckedFiles:
    """The verdict on every candidate, and the model inputs of the files decoded for training."""

    verdicts: dict[Path, Verdict] = field(default_factory=dict)
    decoded: dict[Path, np.ndarray] = field(default_factory=dict)


def check_files(root: Path, paths: list[Path], *, max_megapixels: float, workers: int | None = None,
                progress: Callable[[int, int], None] | None = None, decode: ImageInput | None = None
                ) -> CheckedFiles:
    """Check every one of `paths` (the candidates under `root`): remembered verdicts first, then the rest
    decoded in parallel threads (PIL releases the GIL while decoding). With `decode`, the files decoded
    now are kept as model inputs, unless there are more than SCAN_DECODE_BUDGET holds.
    ``progress(done, total)`` is called from the calling thread."""
    remembered = RememberedChecks(root, max_megapixels)
    checked = CheckedFiles()
    for path in paths:
        known = remembered.get(path)
        if known is not None:
            checked.verdicts[path] = known
    to_check = [path for path in paths if path not in checked.verdicts]
    if decode is not None and len(to_check) * decode.size * decode.size * 3 > SCAN_DECODE_BUDGET:
        decode = None  # too many to hold: training decodes them into its memory-mapped cache instead
    if progress is not None:
        progress(len(checked.verdicts), len(paths))
    if to_check:
        with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="tl-scan") as pool:
            futures = {pool.submit(check_file, path, max_megapixels, decode): path for path in to_check}
            for done, future in enumerate(as_completed(futures), start=len(checked.verdicts) + 1):
                path = futures[future]
                reason, digest, array = future.result()
                checked.verdicts[path] = (reason, digest)
                if array is not None:
                    checked.decoded[path] = array
                if reason is None or not reason.startswith("cannot read"):
                    remembered.put(path, (reason, digest))
                if progress is not None:
                    progress(done, len(paths))
    remembered.save({str(path) for path in paths})
    return checked
