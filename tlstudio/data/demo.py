"""A synthetic, learnable dataset of coloured shapes, for the tutorial, the CLI's demo-data and tests.

Each image shows one shape at a random position, size, rotation and colour on a noisy background
of another colour, so only the shape tells the classes apart. Files alternate between PNG and
JPEG so the demo also exercises both decoders. The same seed writes the same files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

DEFAULT_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
# The demo dataset that `tlstudio demo-data` and the GUI's demo write: with the default project
# (a frozen pretrained backbone) it trains to well above 90 % validation accuracy in seconds.
DEMO_PER_CLASS = 60
DEMO_IMAGE_SIZE = 128

Point = tuple[float, float]


def _regular_polygon(cx: float, cy: float, radius: float, sides: int, angle: float) -> list[Point]:
    return [(cx + radius * math.cos(angle + 2 * math.pi * k / sides),
             cy + radius * math.sin(angle + 2 * math.pi * k / sides)) for k in range(sides)]


def _star(cx: float, cy: float, radius: float, angle: float) -> list[Point]:
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.45
        a = angle + math.pi * k / 5
        points.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return points


def _draw_circle(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float, color: tuple) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)


def _draw_square(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float, color: tuple) -> None:
    draw.polygon(_regular_polygon(cx, cy, r, 4, angle), fill=color)


def _draw_triangle(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float,
                   color: tuple) -> None:
    draw.polygon(_regular_polygon(cx, cy, r, 3, angle), fill=color)


def _draw_ring(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float, color: tuple) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=color, width=max(2, round(r * 0.3)))


def _draw_cross(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float, color: tuple) -> None:
    width = max(2.0, r * 0.35)
    for a in (angle, angle + math.pi / 2):
        dx, dy = math.cos(a), math.sin(a)
        nx, ny = -dy * width / 2, dx * width / 2
        draw.polygon([(cx - dx * r + nx, cy - dy * r + ny), (cx + dx * r + nx, cy + dy * r + ny),
                      (cx + dx * r - nx, cy + dy * r - ny), (cx - dx * r - nx, cy - dy * r - ny)], fill=color)


def _draw_star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, angle: float, color: tuple) -> None:
    draw.polygon(_star(cx, cy, r, angle), fill=color)


_Drawer = Callable[[ImageDraw.ImageDraw, float, float, float, float, tuple], None]
SHAPES: dict[str, _Drawer] = {
    "circle": _draw_circle,
    "square": _draw_square,
    "triangle": _draw_triangle,
    "ring": _draw_ring,
    "cross": _draw_cross,
    "star": _draw_star,
}


def _contrasting_colors(rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A background and a shape colour far enough apart that the shape is always visible."""
    while True:
        background = rng.integers(0, 256, 3)
        shape = rng.integers(0, 256, 3)
        if np.abs(background - shape).sum() > 200:
            return background, (int(shape[0]), int(shape[1]), int(shape[2]))


def _render(shape: str, size: int, rng: np.random.Generator) -> Image.Image:
    background, color = _contrasting_colors(rng)
    image = Image.new("RGB", (size, size), tuple(int(c) for c in background))
    radius = rng.uniform(0.18, 0.38) * size
    margin = radius * 1.05
    cx, cy = rng.uniform(margin, size - margin, 2)
    SHAPES[shape](ImageDraw.Draw(image), float(cx), float(cy), float(radius), float(rng.uniform(0, 2 * math.pi)),
                  color)
    # Noise over the whole picture so the task is not solved by a single exact colour.
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0.0, 12.0, (size, size, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def make_demo_dataset(folder: str | os.PathLike[str], classes: Sequence[str] = DEFAULT_CLASSES,
                      per_class: int = 40, size: int = 64, seed: int = 0) -> Path:
    """Writes ``folder/<class>/<class>_NNN.(png|jpg)`` for each class and returns ``folder``.

    Class names that are shape names (circle, square, triangle, ring, cross, star) draw that shape;
    other names take the shapes in turn. Existing files of the same names are overwritten.
    """
    if len(classes) < 1 or per_class < 1 or size < 8:
        raise ValueError("make_demo_dataset needs at least one class, one image a class and 8 px images")
    if len(set(classes)) != len(classes):
        raise ValueError(f"class names must be distinct, got {list(classes)}")
    folder = Path(folder)
    shape_names = list(SHAPES)
    for class_index, name in enumerate(classes):
        shape = name if name in SHAPES else shape_names[class_index % len(shape_names)]
        class_dir = folder / name
        class_dir.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            # One generator per image: the picture depends on (seed, class, i) only.
            rng = np.random.default_rng([seed, class_index, i])
            image = _render(shape, size, rng)
            if i % 2 == 0:
                image.save(class_dir / f"{name}_{i:03d}.png", optimize=False, compress_level=1)
            else:
                image.save(class_dir / f"{name}_{i:03d}.jpg", quality=92)
    return folder


def demo_dataset_ready(folder: str | os.PathLike[str]) -> bool:
    """True when `folder` already holds a demo's class folders with images (then it is reused)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    classes = [d for d in folder.iterdir() if d.is_dir()]
    return len(classes) >= 2 and all(any(d.iterdir()) for d in classes)
