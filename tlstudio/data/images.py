"""Decode image files into RGB uint8 arrays, the same way for scanning, training and prediction.

One decoder serves the scanner (which checks every file) and the loaders (which turn the
files into arrays), so a file the scanner accepted decodes identically later. Rules:

- only JPEG, PNG, BMP, GIF (first frame), WebP and TIFF are opened, whatever the extension says;
- the pixel limit is checked on the header size, before any pixel is decoded, with our own
  limit rather than PIL's global ``MAX_IMAGE_PIXELS`` (which other code may change);
- EXIF orientation is applied, every colour mode becomes 8-bit RGB (16-bit and float data are
  scaled, not clipped; transparency is composited on ``ALPHA_BACKGROUND``);
- large JPEGs are decoded at reduced scale (``draft``) when only a small result is needed.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import (  # noqa: F401  (importing the plugins registers them in Image.OPEN)
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

# Transparent pixels are composited on white: what image viewers show, and what a person
# who saved a logo with a transparent background expects the model to see.
ALPHA_BACKGROUND: tuple[int, int, int] = (255, 255, 255)
# Colour of the borders that the "pad" policy adds around a non-square image.
PAD_COLOR: tuple[int, int, int] = (0, 0, 0)
# The one resampling filter used everywhere (training, evaluation, prediction) so the model
# sees the same pixels at prediction time as in training. BICUBIC with a reducing gap is
# antialiased, sharp, and fast on large downscales (PIL first box-reduces by an integer factor).
RESAMPLE = Image.Resampling.BICUBIC
REDUCING_GAP = 3.0
RESAMPLING = "bicubic (Pillow)"  # RESAMPLE in words, for model cards
RESIZE_POLICIES: tuple[str, ...] = ("stretch", "center-crop", "pad")
DEFAULT_RESIZE = "center-crop"
DEFAULT_MAX_MEGAPIXELS = 64.0

# PIL format names that are accepted, tried in this order on the file's first bytes.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
_FORMAT_LIST_TEXT = "JPEG, PNG, BMP, GIF, WebP or TIFF"
# Messages PIL and its decoders use when the data stops early.
_TRUNCATION_HINTS = ("truncat", "incomplete", "requires a buffer", "end of file", "premature end")


class DataError(ValueError):
    """A problem with the user's data that the user can fix; the message names the file or folder."""


class UnusableImageError(DataError):
    """One image file cannot be used. ``reason`` is the short text the scan report shows."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot use image '{self.path}': {reason}; fix or remove the file and scan the "
                         "folder again")


class _Rejected(Exception):
    """Internal: the decoder refused the data; carries the reason without the file name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def default_workers() -> int:
    """Threads used to decode: PIL releases the GIL while decoding, so one per core (2–8)."""
    return min(8, max(2, os.cpu_count() or 2))


def _looks_like_text(prefix: bytes) -> bool:
    if not prefix:
        return False
    try:
        text = prefix.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _not_an_image_reason(prefix: bytes) -> str:
    if prefix[4:8] == b"ftyp":
        return "not an image: HEIC/HEIF or video content is not supported; convert it to JPEG or PNG"
    if _looks_like_text(prefix):
        return "not an image: the file holds text"
    return f"not an image: the content is not a {_FORMAT_LIST_TEXT} image"


def _failure_reason(error: BaseException) -> str:
    """Turns a decoder exception into the short reason the report shows."""
    if isinstance(error, Image.DecompressionBombError):
        return "too large: the image is above PIL's decompression-bomb limit"
    message = str(error).strip() or type(error).__name__
    if isinstance(error, EOFError) or any(hint in message.lower() for hint in _TRUNCATION_HINTS):
        return "truncated image data"
    return f"corrupt image: {message}"


# Exceptions PIL's plugins raise on bad data; anything else is a real bug and propagates.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
                  struct.error, zlib.error, Image.DecompressionBombError)


def _identify(fileobj: BinaryIO) -> Image.Image:
    """Opens the header with the first accepting plugin, like ``Image.open`` but without PIL's global
    decompression-bomb check, so our own pixel limit decides and reports the real size."""
    fileobj.seek(0)
    prefix = fileobj.read(16)
    if not prefix:
        raise _Rejected("empty file (0 bytes)")
    last_error: BaseException | None = None
    for name in ACCEPTED_FORMATS:
        factory, accept = Image.OPEN[name]
        accepted = accept(prefix) if accept is not None else True
        if not accepted or isinstance(accepted, str):  # a str is PIL's "plugin unavailable" note
            continue
        fileobj.seek(0)
        try:
            return factory(fileobj, "")
        except _DECODE_ERRORS as error:  # the signature matched but the header is broken
            last_error = error
    if last_error is not None:
        raise _Rejected(_failure_reason(last_error))
    raise _Rejected(_not_an_image_reason(prefix))


def _scale_to_uint8(values: np.ndarray, full_scale: float | None) -> np.ndarray:
    """Maps integer or float samples to 0–255: by ``full_scale`` when the data fits it, else by the
    image's own range (e.g. 32-bit or float data with an arbitrary scale)."""
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if full_scale is not None and low >= 0.0 and high <= full_scale:
        scaled = values * (255.0 / full_scale)
    elif high > low:
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Converts any PIL mode to 8-bit RGB (see the module docstring for the rules)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image)
        if mode.startswith("I;16"):
            full_scale: float | None = 65535.0
        elif mode == "I":
            full_scale = 65535.0  # 16-bit data often arrives as mode I; other ranges are stretched
        else:
            high = float(np.nanmax(values)) if values.size else 0.0
            full_scale = 1.0 if high <= 1.0 else 255.0
        values = np.nan_to_num(values.astype(np.float64))
        return Image.fromarray(_scale_to_uint8(values, full_scale), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, ALPHA_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise _Rejected(f"corrupt image: unsupported colour mode {mode}") from error


def _decode_rgb(fileobj: BinaryIO, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
               draft_size: int | None = None) -> Image.Image:
    """Decodes an open image file into a loaded, upright RGB image.

    Raises ``_Rejected`` with the report's reason; ``open_rgb`` adds the file name.
    ``draft_size`` lets a JPEG decode at a reduced scale that still covers draft_size×draft_size.
    """
    image = _identify(fileobj)
    try:
        width, height = image.size
        if width * height > max_megapixels * 1_000_000:
            raise _Rejected(f"too large: {width}×{height} pixels is above the {max_megapixels:g} MP limit")
        if width < 1 or height < 1:
            raise _Rejected(f"corrupt image: invalid size {width}×{height}")
        # MPO (many phone photos) is a JPEG subclass, so it gets the cheap reduced-scale decode too.
        if draft_size is not None and isinstance(image, JpegImagePlugin.JpegImageFile):
            image.draft("RGB", (draft_size, draft_size))
        try:
            image.load()
        except _DECODE_ERRORS as error:
            raise _Rejected(_failure_reason(error)) from error
        try:
            upright = ImageOps.exif_transpose(image)
        except _DECODE_ERRORS:
            upright = image  # unreadable EXIF only loses the orientation, not the picture
        try:
            return _to_rgb(upright)
        except _Rejected:
            raise
        except _DECODE_ERRORS as error:
            raise _Rejected(_failure_reason(error)) from error
    finally:
        image.close()


def open_rgb(path: str | os.PathLike[str], max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
             draft_size: int | None = None) -> Image.Image:
    """Opens one image file as a loaded, upright RGB ``PIL.Image``.

    Raises ``UnusableImageError`` (a ``DataError``) naming the file when it cannot be used.
    """
    try:
        with open(path, "rb") as fileobj:
            return _decode_rgb(fileobj, max_megapixels=max_megapixels, draft_size=draft_size)
    except _Rejected as rejected:
        raise UnusableImageError(path, rejected.reason) from None
    except OSError as error:
        raise UnusableImageError(path, f"cannot read the file: {error.strerror or error}") from None


def decode_bytes(data: bytes, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
                 draft_size: int | None = None) -> str | None:
    """Checks in-memory file content; returns the reason it is unusable, or None when it decodes."""
    try:
        _decode_rgb(io.BytesIO(data), max_megapixels=max_megapixels, draft_size=draft_size)
    except _Rejected as rejected:
        return rejected.reason
    return None


def decode_bytes_to_input(data: bytes, size: int, resize: str, *,
                          max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> tuple[str | None, np.ndarray | None]:
    """In-memory file content as a model input: (None, (size, size, 3) uint8 array) when it decodes,
    else (the reason it is unusable, None). The same decode as `load_image`, so a scan that calls this
    proves the file usable and prepares it for training in one pass."""
    try:
        image = _decode_rgb(io.BytesIO(data), max_megapixels=max_megapixels, draft_size=size)
    except _Rejected as rejected:
        return rejected.reason, None
    return None, np.array(fit_to_square(image, size, resize), dtype=np.uint8)


def fit_to_square(image: Image.Image, size: int, resize: str = "center-crop") -> Image.Image:
    """Resizes an RGB image to size×size by one of ``RESIZE_POLICIES``.

    stretch: ignore the aspect ratio; center-crop: scale the shorter side to ``size`` and keep the
    centre; pad: scale the longer side to ``size`` and fill the borders with ``PAD_COLOR``.
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    width, height = image.size
    if resize == "stretch":
        return image.resize((size, size), RESAMPLE, reducing_gap=REDUCING_GAP)
    if resize == "center-crop":
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        # Resizing straight from the centre box is one resampling step, with sub-pixel accuracy.
        return image.resize((size, size), RESAMPLE, box=(left, top, left + side, top + side),
                            reducing_gap=REDUCING_GAP)
    if resize == "pad":
        scale = size / max(width, height)
        new_size = (max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale))))
        canvas = Image.new("RGB", (size, size), PAD_COLOR)
        fitted = image.resize(new_size, RESAMPLE, reducing_gap=REDUCING_GAP)
        canvas.paste(fitted, ((size - new_size[0]) // 2, (size - new_size[1]) // 2))
        return canvas
    raise ValueError(f"unknown resize policy {resize!r}; use one of {', '.join(RESIZE_POLICIES)}")


def load_image(path: str | os.PathLike[str], size: int, resize: str = "center-crop",
               max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    """Decodes one file to a (size, size, 3) uint8 array, exactly as training data is prepared."""
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"unknown resize policy {resize!r}; use one of {', '.join(RESIZE_POLICIES)}")
    image = open_rgb(path, max_megapixels=max_megapixels, draft_size=size)
    return np.array(fit_to_square(image, size, resize), dtype=np.uint8)


def load_images(paths: Iterable[str | os.PathLike[str]], size: int, resize: str = "center-crop", *,
                max_megapixels: float = DEFAULT_MAX_MEGAPIXELS, workers: int | None = None,
                progress: Callable[[int, int], None] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Decodes many files in parallel threads into one (N, size, size, 3) uint8 array, in order (into
    `out` when given, e.g. a memory-mapped file, so a large set never sits in memory whole).

    Raises ``DataError`` naming the first file that fails (e.g. changed since the scan).
    ``progress(done, total)`` is called from the calling thread.
    """
    paths = list(paths)
    total = len(paths)
    if out is None:
        out = np.empty((total, size, size, 3), dtype=np.uint8)
    elif out.shape != (total, size, size, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a uint8 array of shape {(total, size, size, 3)}, got {out.dtype} {out.shape}")
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"unknown resize policy {resize!r}; use one of {', '.join(RESIZE_POLICIES)}")
    if progress is not None:
        progress(0, total)
    if total == 0:
        return out

    def decode_into(i: int) -> None:
        out[i] = load_image(paths[i], size, resize, max_megapixels)

    done = 0
    with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="tl-decode") as pool:
        futures = [pool.submit(decode_into, i) for i in range(total)]
        try:
            for future in as_completed(futures):
                future.result()  # re-raises a failure, naming its file
                done += 1
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for future in futures:
                future.cancel()  # don't decode the rest of a set that is already failed
            raise
    return out


@dataclass(frozen=True)
class ImageInput:
    """How an image file becomes a model input, the one statement of it that training, evaluation,
    prediction and export share: a square of `size` px fitted by the `resize` policy with Pillow's
    bicubic filter, EXIF orientation applied, transparency on ALPHA_BACKGROUND, and files larger than
    `max_megapixels` refused from their header."""

    size: int
    resize: str = DEFAULT_RESIZE
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"unknown resize policy {self.resize!r}; use one of {', '.join(RESIZE_POLICIES)}")

    def load(self, path: str | os.PathLike[str]) -> np.ndarray:
        """One file as a (size, size, 3) uint8 array."""
        return load_image(path, self.size, self.resize, self.max_megapixels)

    def load_many(self, paths: Iterable[str | os.PathLike[str]],
                  progress: Callable[[int, int], None] | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Many files, in parallel, as one (N, size, size, 3) uint8 array (`out` when given); DataError names
        a bad file."""
        return load_images(paths, self.size, self.resize, max_megapixels=self.max_megapixels, progress=progress,
                           out=out)

    def facts(self) -> dict[str, Any]:
        """The input section of a model card: everything another program needs to feed the model."""
        return {
            "image_size": self.size, "shape": [None, self.size, self.size, 3], "layout": "NHWC",
            "dtype": "float32", "color": "RGB", "range": [0, 255], "resize": self.resize, "resample": RESAMPLING,
            "exif_orientation": "applied", "alpha_background": list(ALPHA_BACKGROUND), "pad_color": list(PAD_COLOR),
            "max_megapixels": self.max_megapixels,
        }

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> ImageInput:
        """Back from a model card's input section (older cards lack the optional fields)."""
        return cls(int(facts["image_size"]), str(facts.get("resize", DEFAULT_RESIZE)),
                   float(facts.get("max_megapixels", DEFAULT_MAX_MEGAPIXELS)))
