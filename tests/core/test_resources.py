"""The files TL Studio ships (weights, icons) are found through one function, installed or frozen."""

from __future__ import annotations

import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from PIL import Image

from tlstudio.files import resource_path
from tlstudio.weight_sources import SHIPPED_WEIGHTS

ROOT = Path(__file__).resolve().parents[2]
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_the_shipped_weights_and_icons_are_found():
    assert SHIPPED_WEIGHTS["squeezenet1_1"] == resource_path("weights", "squeezenet1_1_imagenet_notop.h5")
    assert SHIPPED_WEIGHTS["squeezenet1_1"].is_file()
    assert resource_path("icons", "tlstudio.svg").is_file()
    for size in ICON_SIZES:
        with Image.open(resource_path("icons", f"tlstudio-{size}.png")) as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"  # rounded corners stay transparent on any panel


def test_a_frozen_build_reads_its_resources_from_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    bundled = tmp_path / "tlstudio" / "resources" / "icons" / "tlstudio-16.png"
    assert resource_path("icons", "tlstudio-16.png") == bundled


def test_pip_install_takes_every_resource_file():
    """`pip install .` copies only what pyproject's package data names: a new resources/ folder must be listed."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tlstudio"]
    package = ROOT / "tlstudio"
    shipped = [path.relative_to(package).as_posix() for path in resource_path().rglob("*") if path.is_file()]
    missed = [name for name in shipped if not any(fnmatch(name, pattern) for pattern in patterns)]
    assert shipped and not missed
