"""Decoding: every colour mode and format becomes RGB uint8 of the right size, oriented, resized by policy."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlstudio.data import (
    ALPHA_BACKGROUND,
    PAD_COLOR,
    DataError,
    UnusableImageError,
    load_image,
    load_images,
    open_rgb,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _solid(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


def _thirds(width: int = 96, height: int = 32) -> Image.Image:
    """A wide picture: red | green | blue vertical thirds."""
    arr = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    arr[:, :third] = RED
    arr[:, third:2 * third] = GREEN
    arr[:, 2 * third:] = BLUE
    return Image.fromarray(arr)


def _close(pixel: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) <= tol))


def _save(image: Image.Image, path: Path, fmt: str | None = None, **kwargs) -> Path:
    image.save(path, fmt, **kwargs)
    return path


def _gray16(path: Path) -> Path:
    ramp = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    return _save(Image.fromarray(ramp), path)


def _palette_transparent(path: Path) -> Path:
    image = Image.new("P", (40, 30), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    image.paste(1, (0, 0, 20, 30))  # left half red, right half index 0 = transparent
    return _save(image, path, transparency=0)


def _la(path: Path) -> Path:
    image = Image.new("LA", (40, 30), (0, 0))  # black but fully transparent
    image.paste((0, 255), (0, 0, 20, 30))  # left half opaque black
    return _save(image, path)


def _rgba(path: Path) -> Path:
    image = Image.new("RGBA", (40, 30), (0, 0, 255, 0))
    image.paste((255, 0, 0, 255), (0, 0, 20, 30))
    return _save(image, path)


def _cmyk_jpeg(path: Path) -> Path:
    return _save(_solid(RED).convert("CMYK"), path, "JPEG", quality=95)


def _gif_two_frames(path: Path) -> Path:
    frames = [_solid(RED), _solid(BLUE)]
    return _save(frames[0], path, save_all=True, append_images=frames[1:], duration=100)


def _float_tiff(path: Path) -> Path:
    return _save(Image.fromarray(np.full((30, 40), 0.5, np.float32)), path)


def _gray16_big_endian_tiff(path: Path) -> Path:
    data = np.full((30, 40), 32768, ">u2").tobytes()  # PIL's convert("I;16B") would clip to 255
    return _save(Image.frombytes("I;16B", (40, 30), data), path)


CASES = {
    "rgb.jpg": lambda p: _save(_solid(RED), p, quality=95),
    "upper.JPEG": lambda p: _save(_solid(RED), p, "JPEG", quality=95),
    "png_named.jpg": lambda p: _save(_solid(RED), p, "PNG"),
    "gray.png": lambda p: _save(_solid(RED).convert("L"), p),
    "bilevel.png": lambda p: _save(Image.new("1", (40, 30), 1), p),
    "palette.png": lambda p: _save(_solid(RED).convert("P"), p),
    "palette_alpha.png": _palette_transparent,
    "la.png": _la,
    "rgba.png": _rgba,
    "cmyk.jpg": _cmyk_jpeg,
    "gray16.png": _gray16,
    "gray16b.tif": _gray16_big_endian_tiff,
    "float.tif": _float_tiff,
    "anim.gif": _gif_two_frames,
    "lossless.webp": lambda p: _save(_solid(RED), p, lossless=True),
    "rgb.tiff": lambda p: _save(_solid(RED), p),
    "rgb.bmp": lambda p: _save(_solid(RED), p),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_mode_and_format_gives_rgb_uint8_of_the_requested_size(tmp_path: Path, name: str) -> None:
    path = CASES[name](tmp_path / name)
    out = load_image(path, 32)
    assert out.shape == (32, 32, 3)
    assert out.dtype == np.uint8


@pytest.mark.parametrize("name", ["rgb.jpg", "upper.JPEG", "png_named.jpg", "palette.png", "cmyk.jpg",
                                  "anim.gif", "lossless.webp", "rgb.tiff", "rgb.bmp"])
def test_colours_survive_decoding(tmp_path: Path, name: str) -> None:
    """Red stays red: CMYK is converted (not inverted), a GIF shows its first frame (red, not blue)."""
    out = load_image(CASES[name](tmp_path / name), 16, "stretch")
    assert _close(out[8, 8], RED), out[8, 8]


def test_16_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    out = load_image(_gray16(tmp_path / "gray16.png"), 40, "stretch")
    gray = out[..., 0].astype(int)
    assert gray.min() <= 5 and gray.max() >= 250
    # A linear ramp keeps its middle around mid-gray; clipping would make most of it white.
    assert 100 <= np.median(gray) <= 155
    assert (gray == 255).mean() < 0.1
    half = load_image(_gray16_big_endian_tiff(tmp_path / "gray16b.tif"), 16)
    assert np.all(np.abs(half.astype(int) - 128) <= 1)


def test_float_image_in_0_1_is_scaled_to_0_255(tmp_path: Path) -> None:
    out = load_image(_float_tiff(tmp_path / "float.tif"), 16)
    assert np.all(np.abs(out.astype(int) - 128) <= 1)


@pytest.mark.parametrize("name", ["palette_alpha.png", "rgba.png", "la.png"])
def test_transparent_pixels_become_the_white_background(tmp_path: Path, name: str) -> None:
    out = load_image(CASES[name](tmp_path / name), 40, "stretch")
    assert ALPHA_BACKGROUND == (255, 255, 255)
    assert _close(out[15, 35], ALPHA_BACKGROUND, tol=2)  # right half was transparent
    assert not _close(out[15, 5], ALPHA_BACKGROUND, tol=60)  # left half was opaque


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A 40×20 photo stored sideways (orientation 6 = rotate 90° clockwise to display)."""
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = RED
    arr[:, 20:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(arr), tmp_path / "rotated.jpg", quality=95, exif=exif.tobytes())
    assert open_rgb(path).size == (20, 40)  # displayed upright: tall
    out = load_image(path, 32, "stretch")
    # Rotating clockwise puts the stored left (red) half on top.
    assert _close(out[4, 16], RED) and _close(out[28, 16], BLUE)


def test_resize_policies_have_the_expected_geometry(tmp_path: Path) -> None:
    path = _save(_thirds(96, 32), tmp_path / "wide.png")
    stretch = load_image(path, 30, "stretch")
    assert _close(stretch[15, 2], RED) and _close(stretch[15, 15], GREEN) and _close(stretch[15, 27], BLUE)
    crop = load_image(path, 30, "center-crop")
    assert all(_close(crop[y, x], GREEN) for y in (0, 15, 29) for x in (0, 15, 29))  # only the middle third
    pad = load_image(path, 30)  # center-crop is the default
    assert np.array_equal(pad, crop)
    pad = load_image(path, 30, "pad")
    assert _close(pad[0, 15], PAD_COLOR, tol=0) and _close(pad[29, 15], PAD_COLOR, tol=0)  # bands top and bottom
    assert _close(pad[15, 2], RED) and _close(pad[15, 15], GREEN) and _close(pad[15, 27], BLUE)
    tall = load_image(_save(_thirds(96, 32).rotate(90, expand=True), tmp_path / "tall.png"), 30, "pad")
    assert _close(tall[15, 0], PAD_COLOR, tol=0) and _close(tall[15, 29], PAD_COLOR, tol=0)  # bands at the sides


def test_unknown_resize_policy_is_refused(tmp_path: Path) -> None:
    path = _save(_solid(RED), tmp_path / "a.png")
    with pytest.raises(ValueError, match="resize"):
        load_image(path, 16, "squash")


def test_large_jpeg_is_decoded_in_draft_mode(tmp_path: Path) -> None:
    path = _save(_solid(GREEN, (2000, 1500)), tmp_path / "photo.jpg", quality=90)
    image = open_rgb(path, draft_size=64)
    assert 64 <= min(image.size) and max(image.size) <= 2000 // 4  # decoded at reduced scale
    assert load_image(path, 64).shape == (64, 64, 3)


def test_header_size_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _save(Image.new("1", (20000, 20000)), tmp_path / "huge.png")
    assert path.stat().st_size < 200_000  # tiny on disk, 400 megapixels once decoded
    start = time.perf_counter()
    with pytest.raises(UnusableImageError, match="too large: 20000×20000 pixels is above the 64 MP limit"):
        open_rgb(path)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(DataError, match="too large"):
        load_image(_save(_solid(RED, (64, 64)), tmp_path / "small.png"), 16, max_megapixels=0.001)


def test_load_images_keeps_order_and_reports_progress(tmp_path: Path) -> None:
    colors = [RED, GREEN, BLUE, (255, 255, 0), (0, 255, 255)]
    paths = [_save(_solid(c), tmp_path / f"{i}.png") for i, c in enumerate(colors)]
    calls: list[tuple[int, int]] = []
    out = load_images(paths, 24, progress=lambda done, total: calls.append((done, total)), workers=3)
    assert out.shape == (5, 24, 24, 3) and out.dtype == np.uint8
    assert all(_close(out[i, 12, 12], c, tol=0) for i, c in enumerate(colors))
    assert calls[-1] == (5, 5) and all(total == 5 for _, total in calls)
    assert load_images([], 24).shape == (0, 24, 24, 3)


def test_load_images_names_a_file_that_became_corrupt(tmp_path: Path) -> None:
    paths = [_save(_solid(RED), tmp_path / f"{i}.png") for i in range(4)]
    paths[2].write_bytes(paths[2].read_bytes()[:60])  # changed since the scan
    with pytest.raises(DataError, match="2.png") as caught:
        load_images(paths, 16)
    assert "truncated" in str(caught.value)
    paths[2].unlink()
    with pytest.raises(DataError, match="2.png"):
        load_images(paths, 16)


def test_image_input_is_the_one_statement_of_the_input_rules(tmp_path):
    """The project, a run folder's config and a model card all give back the same ImageInput."""
    from tlstudio.data import ImageInput
    from tlstudio.data.images import RESAMPLING
    from tlstudio.settings.project import Project

    project = Project().copy_with(**{"model.image_size": 48, "data.resize": "pad", "data.max_megapixels": 2.0})
    image_input = project.image_input
    assert image_input == ImageInput(48, "pad", 2.0)
    facts = image_input.facts()
    assert facts["resample"] == RESAMPLING and facts["shape"] == [None, 48, 48, 3]
    assert ImageInput.from_facts(facts) == image_input
    assert ImageInput.from_facts({"image_size": 48}) == ImageInput(48)  # an older card: the defaults
    path = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (80, 40), (200, 10, 10)).save(path)
    assert image_input.load(path).shape == (48, 48, 3)
    assert image_input.load_many([path, path]).shape == (2, 48, 48, 3)
