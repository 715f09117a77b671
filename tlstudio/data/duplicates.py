"""Exact and near-duplicate images: a content hash of the file and a perceptual hash of the picture.

The perceptual hash is the DCT hash (pHash): the image in grey at 32x32, its 2-D DCT, and one bit per
low-frequency coefficient (the 8x8 block, the constant term left out) saying whether it lies above their
median. A re-encoded, resized or lightly recompressed copy keeps nearly every bit; a different picture
differs in about half of them. The hash sees no colour, and simple pictures (one shape on a plain ground)
can share most bits, so a pair also needs nearly the same 8x8 colour thumbnail. Fingerprints are
remembered in the user cache folder by path, size and modification time, so the split and the health check
of an unchanged folder decode nothing again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlstudio.base.cache_folder import IMAGE_FINGERPRINTS, cache_folder
from tlstudio.base.files import write_text_atomic
from tlstudio.data.images import DEFAULT_MAX_MEGAPIXELS, DataError, default_workers, open_rgb

HASH_SIZE = 8  # 8x8 low-frequency DCT coefficients: a 64-bit hash
NEAR_DUPLICATE_BITS = 6  # at most this many of the 64 bits differ: the same picture (measured: copies 0-2)
NEAR_DUPLICATE_COLOUR = 0.05  # ...and the 8x8 colour thumbnails differ by at most this (mean |diff| / 255)
FINGERPRINT_FORMAT = 2


@dataclass(frozen=True)
class Fingerprint:
    content: str  # blake2b of the file's bytes: equal for byte-identical files
    perceptual: int  # the 64-bit DCT hash
    colour: bytes  # the 8x8 RGB thumbnail, 192 bytes

    def colour_distance(self, other: Fingerprint) -> float:
        a = np.frombuffer(self.colour, np.uint8).astype(np.float32)
        b = np.frombuffer(other.colour, np.uint8).astype(np.float32)
        return float(np.abs(a - b).mean() / 255.0)


def perceptual_hash(image) -> int:
    """The 64-bit DCT hash of a PIL image (any mode)."""
    from PIL import Image
    from scipy.fft import dctn

    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = dctn(grey, norm="ortho")[:HASH_SIZE, :HASH_SIZE].flatten()
    bits = low > np.median(low[1:])
    bits[0] = False  # the constant term says how bright the picture is, not what it shows
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _fingerprint(path: Path, max_megapixels: float) -> Fingerprint:
    data = path.read_bytes()
    from PIL import Image

    image = open_rgb(path, max_megapixels, draft_size=64)
    colour = image.convert("RGB").resize((8, 8), Image.Resampling.BOX).tobytes()
    return Fingerprint(hashlib.blake2b(data, digest_size=16).hexdigest(), perceptual_hash(image), colour)


def fingerprints(paths: Sequence[Path], *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
                 progress: Callable[[int, int], None] | None = None) -> list[Fingerprint]:
    """One Fingerprint per path (threads decode; remembered ones are not decoded). DataError names a file
    that cannot be read."""
    store = cache_folder(IMAGE_FINGERPRINTS) / f"v{FINGERPRINT_FORMAT}.json"
    try:
        known: dict[str, list] = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    stamps, found, missing = {}, {}, []
    for path in paths:
        try:
            stat = Path(path).stat()
        except OSError as error:
            raise DataError(f"{path}: cannot be read ({error.strerror}); scan the folder again.") from None
        stamps[str(path)] = [stat.st_size, stat.st_mtime_ns]
        entry = known.get(str(path))
        if entry and entry[:2] == stamps[str(path)]:
            found[str(path)] = Fingerprint(entry[2], int(entry[3], 16), bytes.fromhex(entry[4]))
        else:
            missing.append(Path(path))
    done = len(paths) - len(missing)
    if progress:
        progress(done, len(paths))
    if missing:
        with ThreadPoolExecutor(max_workers=default_workers(), thread_name_prefix="tl-fingerprint") as pool:
            for path, print_ in zip(missing, pool.map(lambda p: _fingerprint(p, max_megapixels), missing),
                                    strict=True):
                found[str(path)] = print_
                known[str(path)] = [*stamps[str(path)], print_.content, f"{print_.perceptual:016x}",
                                    print_.colour.hex()]
                done += 1
                if progress:
                    progress(done, len(paths))
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(store, json.dumps(known))
        except OSError:
            pass  # a missed speed-up, never an error
    return [found[str(path)] for path in paths]


def duplicate_pairs(prints: Sequence[Fingerprint], max_bits: int = NEAR_DUPLICATE_BITS,
                    max_colour: float = NEAR_DUPLICATE_COLOUR) -> list[tuple[int, int, str, int]]:
    """(i, j, "exact" | "near", differing bits) for every pair of the same file content, or of perceptual
    hashes at most `max_bits` apart whose colour thumbnails differ by at most `max_colour`; i < j."""
    pairs = []
    if not prints:
        return pairs
    hashes = np.array([p.perceptual for p in prints], dtype=np.uint64)
    for i in range(len(prints) - 1):
        xor = hashes[i] ^ hashes[i + 1:]
        distance = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for offset in np.flatnonzero(distance <= max_bits):
            j = i + 1 + int(offset)
            if prints[i].content == prints[j].content:
                pairs.append((i, j, "exact", 0))
            elif prints[i].colour_distance(prints[j]) <= max_colour:
                pairs.append((i, j, "near", int(distance[offset])))
    return pairs


def group_pairs(count: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (of 2 or more) of `count` items joined by `pairs`, each sorted, by first member."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def duplicate_groups(paths: Sequence[Path], *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
                     ) -> list[list[Path]]:
    """Groups of files that are copies of one picture (byte-identical, or perceptual hashes within
    NEAR_DUPLICATE_BITS): what the split keeps on one side."""
    paths = list(paths)
    prints = fingerprints(paths, max_megapixels=max_megapixels)
    pairs = [(i, j) for i, j, _, _ in duplicate_pairs(prints)]
    return [[paths[i] for i in group] for group in group_pairs(len(paths), pairs)]
